//! `hookgate plugin build`: a Python plugin, or a LiteLLM `custom_callbacks.py`, into
//! components, through the Python SDK's build helper (componentize-py).
//!
//! The command only finds the helper and its Python and runs it once per component; what
//! a build does (the SDK, the LiteLLM compatibility layer, which hooks are exported) is
//! the helper's, `guest-sdk/python/build.py`, so a build from the command line and one
//! from the Makefile are the same build.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The Python SDK: `HOOKGATE_PYTHON_SDK`, else the one in the source tree this binary was
/// built from.
fn sdk_dir() -> PathBuf {
    std::env::var_os("HOOKGATE_PYTHON_SDK")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python"))
}

/// The Python with componentize-py: `HOOKGATE_PYTHON` (the Makefile exports its
/// virtualenv's), else that virtualenv in the source tree, else `python3`.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("HOOKGATE_PYTHON") {
        return PathBuf::from(python);
    }
    let pyenv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv/bin/python");
    if pyenv.exists() {
        pyenv
    } else {
        PathBuf::from("python3")
    }
}

/// What to build, as the command line gave it.
pub struct BuildRequest {
    /// The Python file: a hookgate plugin (`WitWorld = export(MyPlugin)`), or a LiteLLM
    /// callback module when `handlers` are named.
    pub file: PathBuf,
    /// LiteLLM handler instances in `file` (`proxy_handler_instance`): one component each,
    /// or with `bundle` one for all of them.
    pub handlers: Vec<String>,
    /// The plugin name of one component running every handler (`--bundle NAME`): the SDK's
    /// `Bundle`, one interpreter a request instead of one per handler.
    pub bundle: Option<String>,
    /// The component to write (one component), or the directory to write them into.
    pub out: PathBuf,
}

/// Builds every component asked for; returns the paths written.
pub fn build(request: &BuildRequest) -> Result<Vec<PathBuf>> {
    let file = &request.file;
    if !file.is_file() {
        bail!("{} does not exist or is not a file", file.display());
    }
    let module = file.file_stem().and_then(|stem| stem.to_str()).context("the file name is not valid UTF-8")?;
    // Handlers go into a folder (made if missing), unless one handler is built into a
    // `.wasm` file: as build.py decides.
    let names_a_component = request.out.extension().is_some_and(|ext| ext == "wasm") && !request.out.is_dir();
    // The helper checks the handlers and the bundle's name; this only decides the paths.
    let components = if request.bundle.is_some() { 1 } else { request.handlers.len() };
    let into_one_file = components == 1 && names_a_component;
    let into_dir = !request.handlers.is_empty() && !into_one_file;
    if into_dir && request.out.exists() && !request.out.is_dir() {
        bail!("-o {}: handlers are written into a folder (or, one handler, into a .wasm file)", request.out.display());
    }
    // Each component to write, with the handlers it runs.
    let targets: Vec<(&[String], PathBuf)> = if request.handlers.is_empty() {
        if request.out.is_dir() {
            bail!("-o must name the component to write (a .wasm file) for a hookgate plugin");
        }
        vec![(&[], request.out.clone())]
    } else if let Some(bundle) = &request.bundle {
        let out = if into_dir { request.out.join(format!("{bundle}.wasm")) } else { request.out.clone() };
        vec![(&request.handlers[..], out)]
    } else {
        request
            .handlers
            .iter()
            .map(|handler| {
                // The plugin's name is LiteLLM's `callbacks:` entry, so the config can name it
                // as LiteLLM's does.
                let out =
                    if into_dir { request.out.join(format!("{module}.{handler}.wasm")) } else { request.out.clone() };
                (std::slice::from_ref(handler), out)
            })
            .collect()
    };
    let helper = sdk_dir().join("build.py");
    if !helper.is_file() {
        bail!(
            "the Python SDK's build helper is not at {}; set HOOKGATE_PYTHON_SDK to the SDK folder (guest-sdk/python)",
            helper.display()
        );
    }
    let python = python();
    let mut written = Vec::new();
    for (handlers, out) in targets {
        let mut command = Command::new(&python);
        // The build's progress goes to stderr: stdout is for the reports of `check`.
        command.arg(&helper).arg(file).arg("-o").arg(&out).stdout(std::io::stderr());
        for handler in handlers {
            command.arg("--handler").arg(handler);
        }
        if let Some(bundle) = &request.bundle {
            command.arg("--bundle").arg(bundle);
        }
        let status = command.status().with_context(|| {
            format!(
                "running {} (componentize-py's Python; set HOOKGATE_PYTHON, or run `make pyenv` in the source tree)",
                python.display()
            )
        })?;
        if !status.success() {
            bail!("building {} failed ({status}); the helper's message is above", out.display());
        }
        written.push(out);
    }
    Ok(written)
}

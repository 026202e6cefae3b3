//! A server's resident memory, read from /proc while the stream test runs: what holding
//! many streams open costs besides time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How often the resident memory is read while a stream round runs. A peak shorter than
/// this can fall between two readings.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Awaits `work` while reading the resident memory of `pid` and its descendants every
/// [`SAMPLE_EVERY`]; returns what `work` returned and the highest reading, in bytes
/// (`None` without a pid, or when the process could not be read).
pub async fn peak_while<T>(pid: Option<u32>, work: impl Future<Output = T>) -> (T, Option<u64>) {
    let Some(pid) = pid else { return (work.await, None) };
    let (stop, stopped) = mpsc::channel::<()>();
    // On a thread of its own: a walk of /proc takes a millisecond or more, which on the
    // runtime's threads would show up as pauses in the very streams being timed.
    let sampler = tokio::task::spawn_blocking(move || {
        let mut peak = None;
        loop {
            peak = peak.max(tree_rss(pid));
            if stopped.recv_timeout(SAMPLE_EVERY) != Err(RecvTimeoutError::Timeout) {
                return peak;
            }
        }
    });
    let output = work.await;
    drop(stop);
    (output, sampler.await.ok().flatten())
}

/// The resident memory (VmRSS) of `root` and every process descended from it, summed, in
/// bytes; `None` if `root` cannot be read. The sum counts a page shared between processes
/// (a forked worker's inherited pages, the libraries) once per process, so for a server
/// with workers it overstates what the machine gives up.
pub fn tree_rss(root: u32) -> Option<u64> {
    let own = vm_rss(&std::fs::read_to_string(format!("/proc/{root}/status")).ok()?)?;
    let workers = descendants(root, &parents())
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        // A worker that exited between the walk and the read adds nothing.
        .filter_map(|status| vm_rss(&status))
        .sum::<u64>();
    Some(own + workers)
}

/// Every process's parent, from `/proc/<pid>/stat`.
fn parents() -> HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, ppid(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?)))
        .collect()
}

/// The descendants of `root` (not `root` itself) in a map of process to parent.
fn descendants(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(parent) = next.pop() {
        let children = parents.iter().filter(|&(_, &of)| of == parent).map(|(&pid, _)| pid);
        let before = found.len();
        found.extend(children);
        next.extend_from_slice(&found[before..]);
    }
    found
}

/// The parent's pid in a `/proc/<pid>/stat` line: the second field after the command name,
/// which is in parentheses and may itself hold spaces and parentheses.
fn ppid(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` in a `/proc/<pid>/status`, in bytes; a kernel thread has none.
fn vm_rss(status: &str) -> Option<u64> {
    let kib = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?.trim().strip_suffix(" kB")?;
    Some(kib.trim().parse::<u64>().ok()? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_follows_the_last_parenthesis() {
        assert_eq!(ppid("4242 (nginx) S 4200 4242 4242 0 -1"), Some(4200));
        assert_eq!(ppid("77 (odd ) name (x)) R 1 77 77 0 -1"), Some(1));
        assert_eq!(ppid("77 (truncated"), None);
    }

    #[test]
    fn resident_memory_is_read_in_bytes() {
        assert_eq!(
            vm_rss("Name:\tnginx\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nRssAnon:\t 512 kB\n"),
            Some(1536 * 1024)
        );
        assert_eq!(vm_rss("Name:\tkthreadd\nState:\tS (sleeping)\n"), None);
    }

    #[test]
    fn descendants_include_grandchildren_and_not_strangers() {
        let parents = HashMap::from([(10, 1), (11, 10), (12, 10), (13, 11), (20, 1), (21, 20)]);
        let mut found = descendants(10, &parents);
        found.sort_unstable();
        assert_eq!(found, [11, 12, 13]);
        assert!(descendants(13, &parents).is_empty());
    }

    #[test]
    fn a_tree_takes_in_its_children() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let found = descendants(std::process::id(), &parents());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(tree_rss(std::process::id()).is_some_and(|bytes| bytes > 0));
        assert_eq!(tree_rss(u32::MAX), None);
    }
}

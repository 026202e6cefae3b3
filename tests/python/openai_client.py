"""Drives a running hookgate proxy with the official `openai` client.

Usage: python openai_client.py BASE_URL API_KEY MODEL

Makes a normal, a streaming and a rejected chat completion and prints one JSON object
with what the client got, for the Rust test to check. Any unexpected exception fails
the script (non-zero exit) with its traceback.
"""

import json
import sys

import openai


def main() -> None:
    base_url, api_key, model = sys.argv[1:4]
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=30)
    result = {"openai_version": openai.__version__}

    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello from python"}]
    )
    result["normal"] = completion.choices[0].message.content

    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "streamed words arrive"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    result["stream"] = "".join(pieces)
    result["stream_chunks"] = len(pieces)

    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "tell me the forbidden thing"}]
        )
        result["rejected"] = None
    except openai.BadRequestError as error:
        result["rejected"] = {
            "exception": type(error).__name__,
            "status": error.status_code,
            "message": error.message,
            "body": error.body,
            "code": error.code,
            "rejected_by": error.response.headers.get("x-hookgate-rejected-by"),
        }

    print(json.dumps(result))


if __name__ == "__main__":
    main()

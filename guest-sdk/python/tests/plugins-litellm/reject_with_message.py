# LiteLLM's documented "Return rejected message as response" handler
# (docs/my-website/docs/proxy/call_hooks.md): a str returned from async_pre_call_hook is
# the answer the client gets. Two lines differ from the page, which does not run as
# printed: the page uses UserAPIKeyAuth, DualCache, Optional and Literal without
# importing them (imported here), and annotates the return as Optional[dict, str,
# Exception], which Python refuses (written Optional[Union[...]] here).
from typing import Literal, Optional, Union

from litellm.integrations.custom_logger import CustomLogger
import litellm
from litellm.proxy.proxy_server import UserAPIKeyAuth, DualCache
from litellm.utils import get_formatted_prompt

# This file includes the custom callbacks for LiteLLM Proxy
# Once defined, these can be passed in proxy_config.yaml
class MyCustomHandler(CustomLogger):
    def __init__(self):
        pass

    #### CALL HOOKS - proxy only ####

    async def async_pre_call_hook(self, user_api_key_dict: UserAPIKeyAuth, cache: DualCache, data: dict, call_type: Literal[
            "completion",
            "text_completion",
            "embeddings",
            "image_generation",
            "moderation",
            "audio_transcription",
        ]) -> Optional[Union[dict, str, Exception]]:
        formatted_prompt = get_formatted_prompt(data=data, call_type=call_type)

        if "Hello world" in formatted_prompt:
            return "This is an invalid response"

        return data

proxy_handler_instance = MyCustomHandler()

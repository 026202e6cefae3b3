# A pre-call guard in the form LiteLLM's docs use for refusals: raise
# fastapi.HTTPException with a dict detail. The client gets a 400 whose message is the
# detail's "error".
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy.proxy_server import DualCache, UserAPIKeyAuth


class BlockSecrets(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict: UserAPIKeyAuth, cache: DualCache, data: dict, call_type):
        for message in data.get("messages", []):
            if "password" in str(message.get("content", "")).lower():
                raise HTTPException(status_code=400, detail={"error": "Violated content safety policy"})
        return data


proxy_handler_instance = BlockSecrets()

"""``UserAPIKeyAuth``: who is calling, as LiteLLM's callbacks receive it
(``user_api_key_dict``), from what hookgate knows about the key.

- ``api_key`` and ``token``: the key's id, an HMAC of the key under the proxy's secret
  (stable, not reversible; never the raw key). LiteLLM puts the key's hash there.
- ``key_alias``, ``user_id``, ``team_id``, ``metadata`` (a dict): the key's settings in
  the proxy config.
- ``end_user_id``: the request body's ``user``, when it has one.
- ``user_role``: ``"proxy_admin"`` for the master key, else ``None``.
- LiteLLM settings hookgate has no equivalent of read ``None`` (not set):
  ``key_name``, ``team_alias``, ``org_id``, ``user_email``, ``max_budget``,
  ``soft_budget``, ``budget_duration``, ``expires``, ``tpm_limit``, ``rpm_limit``,
  ``team_metadata``, ``allowed_model_region``, ``parent_otel_span``, ``request_route``.
- Anything else (``spend``, ``models``, ``permissions``, ...) raises ``AttributeError``
  saying so, rather than a made-up value: hookgate tracks no spend and does not hand
  plugins a key's model list.
"""

__all__ = ["UserAPIKeyAuth"]

_NOT_IN_HOOKGATE = (
    "key_name", "team_alias", "org_id", "user_email", "max_budget", "soft_budget", "budget_duration", "expires",
    "tpm_limit", "rpm_limit", "team_metadata", "allowed_model_region", "parent_otel_span", "request_route",
)  # fmt: skip


class UserAPIKeyAuth:
    def __init__(self, api_key=None, token=None, key_alias=None, user_id=None, team_id=None, metadata=None, **fields):
        self.api_key = api_key
        self.token = token if token is not None else api_key
        self.key_alias = key_alias
        self.user_id = user_id
        self.team_id = team_id
        self.metadata = dict(metadata) if metadata else {}
        self.end_user_id = None
        self.user_role = None
        for name in _NOT_IN_HOOKGATE:
            setattr(self, name, None)
        for name, value in fields.items():
            setattr(self, name, value)

    def __getattr__(self, name):  # only for attributes not set above
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"UserAPIKeyAuth.{name} is not available in a hookgate plugin: hookgate gives a plugin the key's id "
            "(api_key, token), key_alias, user_id, team_id, metadata and the request's end_user_id; LiteLLM's spend, "
            "budgets, model lists and team records are not hookgate's"
        )

    def model_dump(self, **_options):
        return dict(vars(self))

    def dict(self, **_options):  # noqa: A003 - pydantic v1's name
        return dict(vars(self))

    def __repr__(self):
        return f"UserAPIKeyAuth(key_alias={self.key_alias!r}, user_id={self.user_id!r}, team_id={self.team_id!r})"

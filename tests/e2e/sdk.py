"""The official msgraph SDKs pointed at the live server: msgraph-sdk for v1.0, msgraph-beta-sdk
for beta, and the setup steps several end-to-end tests share."""

from __future__ import annotations

import importlib
import uuid
from types import ModuleType
from typing import Any

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from tests.conftest import LiveServer

CUSTOM_SCIM_APP_TEMPLATE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
DEFAULT_ACCESS = uuid.UUID("00000000-0000-0000-0000-000000000000")


class StaticToken(AccessTokenProvider):
    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([])


class Sdk:
    """The pieces of one SDK flavour (msgraph for v1.0, msgraph_beta for beta)."""

    def __init__(self, package: str) -> None:
        self.package = package

    def module(self, path: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.generated.{path}")

    def model(self, name: str, module: str) -> Any:
        return getattr(self.module(f"models.{module}"), name)

    def client(self, server: LiveServer, version: str, token: str | None = None) -> Any:
        """A GraphServiceClient on the live server; an administrator's token unless one is given."""
        root = importlib.import_module(self.package)
        bearer = StaticToken(token if token is not None else server.token())
        adapter = root.GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(bearer))
        adapter.base_url = f"{server.url}/{version}"
        return root.GraphServiceClient(request_adapter=adapter)


FLAVOURS = {"v1.0": Sdk("msgraph"), "beta": Sdk("msgraph_beta")}


async def instantiate_scim_app(sdk: Sdk, client: Any, display_name: str) -> Any:
    """The non-gallery (custom SCIM) application template, instantiated: {application, servicePrincipal}."""
    body = sdk.module(
        "application_templates.item.instantiate.instantiate_post_request_body"
    ).InstantiatePostRequestBody(display_name=display_name)
    return await client.application_templates.by_application_template_id(
        CUSTOM_SCIM_APP_TEMPLATE
    ).instantiate.post(body)


async def create_job(sdk: Sdk, sp: Any, template_id: str = "scim") -> Any:
    SynchronizationJob = sdk.model("SynchronizationJob", "synchronization_job")
    return await sp.synchronization.jobs.post(SynchronizationJob(template_id=template_id))


async def put_target_secrets(sdk: Sdk, sp: Any, base_address: str, token: str) -> None:
    """BaseAddress and SecretToken of the SCIM app, as the documented flow puts them."""
    secrets_module = sdk.module("service_principals.item.synchronization.secrets.secrets_put_request_body")
    Pair = sdk.model(
        "SynchronizationSecretKeyStringValuePair", "synchronization_secret_key_string_value_pair"
    )
    Secret = sdk.model("SynchronizationSecret", "synchronization_secret")
    await sp.synchronization.secrets.put(
        secrets_module.SecretsPutRequestBody(
            value=[
                Pair(key=Secret.BaseAddress, value=base_address),
                Pair(key=Secret.SecretToken, value=token),
            ]
        )
    )

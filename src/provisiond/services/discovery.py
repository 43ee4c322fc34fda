"""Discover: refresh a SCIM target's directoryDefinition from what the app describes (reference S5).

The app is reached with the service principal's synchronization secrets `BaseAddress` and
`SecretToken`, as validateCredentials reaches it, and its failures get the same 400 codes. A
failure changes nothing. A BaseAddress outside the operator's outbound policy is refused with
`OutboundAddressNotAllowed` before the app is contacted (checked when discover is called, so a
policy tightened after the secrets were saved holds).

Choices where the reference is silent:

* Only a directory that a synchronization rule provisions to, other than the directory itself
  ("Azure Active Directory"), can be discovered: the directory and inbound API sources are
  defined by provisiond, not by an app. Any other directory gets 400 `DirectoryNotDiscoverable`.
* Discover refreshes the definition only, as Entra's does: attribute mappings, scoping and
  matching stay as they are, and a cycle compiles only the rules, so what it exports does not
  change. A job's schema therefore gets a new version, but the watermark stays and a running
  cycle is not interrupted (PUT schema, which can change mappings, re-evaluates every object
  instead). A template's schema is stored as the application's customised template schema, as
  PUT template schema stores it; jobs already created keep their own copy.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from provisiond.connectors import scim, scim_discovery
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy, OutboundRefused
from provisiond.services import templates
from provisiond.services.errors import BadRequest, NotFound
from provisiond.services.outbound import check_base_address, not_a_scim_service, refused
from provisiond.services.synchronization import _CREDENTIAL_CODES, SynchronizationService, _job, _next_version
from provisiond.store import synchronization as repo

Record = dict[str, Any]

NOT_DISCOVERABLE = "DirectoryNotDiscoverable"


class DiscoveryService:
    def __init__(
        self,
        sync: SynchronizationService,
        *,
        timeout: float = scim.DEFAULT_TIMEOUT_SECONDS,
        outbound: OutboundPolicy = ALLOW_EVERYTHING,
    ) -> None:
        self.sync = sync
        self.timeout = timeout
        self.outbound = outbound

    def discover_job_directory(self, sp: Record, job_id: str, directory_id: str) -> Record:
        schema = self.sync.job_schema(self.sync.job(sp, job_id))
        directory_name = _discoverable(schema, directory_id)["name"]
        description = self._describe(sp)
        with self.sync.db.transaction() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            schema, refreshed = self._refreshed(copy.deepcopy(job["schema"]), directory_name, description)
            schema["version"] = f"v{job['schema_version'] + 1}"
            repo.update_job(conn, job["id"], {"schema": schema, "schema_version": job["schema_version"] + 1})
        return refreshed

    def discover_template_directory(
        self, sp: Record, application_id: str | None, template_id: str, directory_id: str
    ) -> Record:
        template = self.sync.template(sp, application_id, template_id)
        directory_name = _discoverable(template["schema"], directory_id)["name"]
        if application_id is None:
            raise BadRequest(
                f"Service principal '{sp['id']}' has no application to hold a customised template schema.",
                code="RequestParameterInvalid",
            )
        description = self._describe(sp)
        with self.sync.db.transaction() as conn:
            override = repo.template_override(conn, application_id, template["id"])
            current = (override or {}).get("schema") or templates.template_schema(template["id"])
            schema, refreshed = self._refreshed(copy.deepcopy(current), directory_name, description)
            schema["version"] = _next_version(current.get("version"))
            repo.put_template_override(conn, application_id, template["id"], schema=schema)
        return refreshed

    def _describe(self, sp: Record) -> scim_discovery.ServiceDescription:
        secrets = self.sync.secrets(sp) if sp.get("id") else {}
        base = secrets.get("BaseAddress")
        if not base:
            raise BadRequest(
                "No BaseAddress (tenant URL) is saved in this service principal's synchronization secrets; "
                "save BaseAddress and SecretToken before discovering the app's schema.",
                code=_CREDENTIAL_CODES[scim.ConnectionProblem.UNREACHABLE],
            )
        check_base_address(self.outbound, base)
        try:
            return scim_discovery.fetch_service_description(
                base, secrets.get("SecretToken"), timeout=self.timeout, outbound=self.outbound
            )
        except OutboundRefused as exc:  # the name's DNS answer changed since the check above
            raise refused(base, exc) from None
        except scim.ScimConnectionError as exc:
            if exc.problem is scim.ConnectionProblem.UNAUTHORIZED or exc.answered_as_scim:
                raise BadRequest(exc.detail, code=_CREDENTIAL_CODES[exc.problem]) from None
            # As validateCredentials: one answer whatever the address speaks, so discover
            # cannot map the network.
            raise not_a_scim_service(
                base,
                "discovery reads its /ResourceTypes and /Schemas ListResponses (RFC 7644 §4)",
                exc.detail,
                f"discover for service principal {sp.get('id')}",
            ) from None

    def _refreshed(
        self, schema: Record, directory_name: str, description: scim_discovery.ServiceDescription
    ) -> tuple[Record, Record]:
        """The schema with the named directory refreshed, and that directory."""
        directories = schema.get("directories") or []
        index = next(
            (i for i, d in enumerate(directories) if (d.get("name") or "").lower() == directory_name.lower()),
            None,
        )
        if index is None:  # the schema was replaced while the app was being read
            raise NotFound(f"The directory definition '{directory_name}' is no longer part of this schema.")
        refreshed = scim_discovery.refresh_directory(
            directories[index],
            description,
            mapped=mapped_targets(schema, directory_name),
            discovered_at=self.sync.clock.now(),
        )
        directories[index] = refreshed
        schema["directories"] = directories
        return schema, refreshed


def find_directory(schema: Mapping[str, Any], directory_id: str) -> Record:
    """A directory of the schema by id, or by name in any case (as GET directories/{id} finds it)."""
    for directory in schema.get("directories") or []:
        if (
            directory.get("id") == directory_id
            or (directory.get("name") or "").lower() == directory_id.lower()
        ):
            return dict(directory)
    raise NotFound(f"The directory definition '{directory_id}' is not part of this schema.")


def _discoverable(schema: Mapping[str, Any], directory_id: str) -> Record:
    directory = find_directory(schema, directory_id)
    name = (directory.get("name") or "").lower()
    rules = schema.get("synchronizationRules") or []
    targets = sorted({r["targetDirectoryName"] for r in rules if r.get("targetDirectoryName")})
    is_target = any((r.get("targetDirectoryName") or "").lower() == name for r in rules)
    if name == templates.AAD_DIRECTORY.lower() or not is_target:
        apps = [t for t in targets if t.lower() != templates.AAD_DIRECTORY.lower()]
        hint = f" The app this schema provisions to is '{apps[0]}'." if apps else ""
        raise BadRequest(
            f"The directory '{directory.get('name')}' cannot be discovered: only the SCIM application a "
            f"synchronization rule provisions to describes its schema (/Schemas, /ResourceTypes).{hint}",
            code=NOT_DISCOVERABLE,
        )
    return directory


def mapped_targets(schema: Mapping[str, Any], directory_name: str) -> dict[str, Collection[str]]:
    """Per target object of the directory, the attributes the schema's attribute mappings target."""
    out: dict[str, set[str]] = {}
    for rule in schema.get("synchronizationRules") or []:
        if (rule.get("targetDirectoryName") or "").lower() != directory_name.lower():
            continue
        for mapping in rule.get("objectMappings") or []:
            targets = out.setdefault(mapping.get("targetObjectName") or "", set())
            targets.update(
                a["targetAttributeName"]
                for a in mapping.get("attributeMappings") or []
                if a.get("targetAttributeName")
            )
    return dict(out)

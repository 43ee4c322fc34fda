"""`PATCH /servicePrincipals/{id}` and `PATCH /applications/{id}` on both databases: the change
is what GET, the appId form and delta show, and a service principal change is written to the
change log (what wakes its jobs)."""

from __future__ import annotations

from sqlalchemy import select
from tests.api.helpers import make_app, make_job
from tests.conftest import LiveServer

from provisiond.store.tables import directory_changes


def test_patching_a_service_principal_changes_what_get_and_delta_show(live_server: LiveServer) -> None:
    with live_server.client() as client:
        sp = make_app(client)["servicePrincipal"]
        delta = client.get("/servicePrincipals/delta").json()
        while "@odata.nextLink" in delta:
            delta = client.get(delta["@odata.nextLink"]).json()
        body = {"appRoleAssignmentRequired": True, "tags": ["HR"], "displayName": "Payroll SCIM"}
        response = client.patch(f"/servicePrincipals(appId='{sp['appId']}')", json=body)
        assert response.status_code == 204, response.text
        shown = client.get(f"/servicePrincipals/{sp['id']}").json()
        assert {k: shown[k] for k in body} == body
        assert shown["accountEnabled"] is True  # untouched
        changed = client.get(delta["@odata.deltaLink"]).json()["value"]
        assert [(c["id"], c["tags"]) for c in changed] == [(sp["id"], ["HR"])]
        # null tags mean none, as on create
        assert client.patch(f"/servicePrincipals/{sp['id']}", json={"tags": None}).status_code == 204
        assert client.get(f"/servicePrincipals/{sp['id']}").json()["tags"] == []


def test_a_service_principal_change_is_written_to_the_change_log(live_server: LiveServer) -> None:
    with live_server.client() as client:
        sp = make_app(client)["servicePrincipal"]
        make_job(client, sp["id"])
        assert (
            client.patch(f"/servicePrincipals/{sp['id']}", json={"accountEnabled": False}).status_code == 204
        )
    with live_server.db.read() as conn:
        last = (
            conn.execute(select(directory_changes).order_by(directory_changes.c.seq.desc()))
            .mappings()
            .first()
        )
    assert last is not None
    assert (last["object_type"], last["object_id"]) == ("servicePrincipal", sp["id"])


def test_patching_an_application_by_id_and_by_app_id(live_server: LiveServer) -> None:
    with live_server.client() as client:
        app = make_app(client)["application"]
        assert client.patch(f"/applications/{app['id']}", json={"description": "HR feed"}).status_code == 204
        keyed = client.patch(f"/applications(appId='{app['appId']}')", json={"displayName": "Renamed"})
        assert keyed.status_code == 204, keyed.text
        shown = client.get(f"/applications/{app['id']}").json()
        assert (shown["displayName"], shown["description"]) == ("Renamed", "HR feed")

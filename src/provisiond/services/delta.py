"""Delta queries (`/users/delta`, `/groups/delta`, `/servicePrincipals/delta`) over the change log.

A round is bounded by two change-log positions. The first round lists every live object, keyset
paged by id, and ends at the log position read when it began; a later round lists, once each,
the objects the log names between the client's position and the log position read when that
round began, in their current state: live ones whole, soft-deleted ones as `@removed` "changed",
hard-deleted ones as `@removed` "deleted". A group's `members@delta` names each member added or
removed in the round, and each member soft-deleted (removed) or restored (added) in it, as the
group's member list then stands. A change made while a round is being paged lies past
the round's end, so the next round reports it (an object may then be reported twice, as Graph
allows; none is ever missed: writers commit in log order, see `provisiond.store.changelog`).

In a first round a group's members@delta lists its live members; a page holds at most
`DeltaService.members_per_page` of them, and a group cut short is listed again at the start of
the next page with the rest; a client merges them, as it already must for any object a round
returns twice. Later rounds name only the members that changed, unsplit.

Tokens hold only those positions, the phase, the paging key (and, within a large group, the
last member listed), the `$select` and the page size,
checksummed as `$skiptoken`s are: no server memory, so a token works on any API process on the
same database and after a restart. The change log is never pruned; a token past the log's end
(a database replaced under the client) is Graph's 410 `syncStateNotFound`, asking for a resync.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Table

from provisiond.graph.odata import ODataError, decode_skiptoken, encode_skiptoken
from provisiond.services.errors import BadRequest, ServiceError
from provisiond.store import delta as delta_repo
from provisiond.store import directory as repo
from provisiond.store.changelog import last_seq
from provisiond.store.db import Database
from provisiond.store.tables import groups, service_principals, users

Record = dict[str, Any]

KIND_TABLES: dict[str, Table] = {"user": users, "group": groups, "servicePrincipal": service_principals}
TOKEN_TAG = "delta1"
INITIAL, CHANGES, DELTA = "i", "c", "d"


class SyncStateGone(ServiceError):
    status = 410
    code = "syncStateNotFound"


@dataclass(frozen=True)
class Position:
    """Where a delta request stands. `upto_seq` ends the round; in the changes phase the round
    covers (after_seq, upto_seq]; `after_id` is the last object id of the previous page."""

    kind: str
    phase: str
    after_seq: int
    upto_seq: int
    after_id: str | None
    select: tuple[str, ...] | None
    page_size: int
    # A first round's large group is listed across pages: set, the page continues the group
    # `after_id` with its members after this member id.
    member_after: str | None = None


@dataclass
class MemberDelta:
    id: str
    kind: str | None
    removed: bool


@dataclass
class DeltaItem:
    id: str
    record: Record | None  # the current state; None when removed
    removed: str | None  # None, "changed" (soft-deleted) or "deleted" (gone for good)
    members: list[MemberDelta] | None = None  # groups only


@dataclass
class DeltaPage:
    items: list[DeltaItem]
    next: Position | None  # the rest of the round (@odata.nextLink), or
    delta: Position | None  # the position the next round starts from (@odata.deltaLink)


def encode_token(position: Position) -> str:
    select = ",".join(position.select) if position.select is not None else ""
    return encode_skiptoken(
        [
            TOKEN_TAG,
            position.kind,
            position.phase,
            position.after_seq,
            position.upto_seq,
            position.after_id or "",
            select,
            position.page_size,
            position.member_after or "",
        ]
    )


def decode_token(token: str, *, kind: str, delta: bool) -> Position:
    """The position a `$skiptoken` (delta False) or `$deltatoken` (delta True) names, or a
    400 for anything this service did not issue for this collection."""
    name = "$deltatoken" if delta else "$skiptoken"
    invalid = BadRequest(f"Invalid {name} value: the token is malformed or was not issued for {kind}s/delta.")
    try:
        key = decode_skiptoken(token)
    except ODataError:
        raise invalid from None
    if len(key) == 8:  # issued before large groups were split across pages
        key = (*key, "")
    if len(key) != 9:
        raise invalid
    tag, token_kind, phase, after_seq, upto_seq, after_id, select, page_size, member_after = key
    if tag != TOKEN_TAG or token_kind != kind:
        raise invalid
    if not (isinstance(after_seq, int) and isinstance(upto_seq, int) and isinstance(page_size, int)):
        raise invalid
    if not (isinstance(phase, str) and isinstance(after_id, str) and isinstance(select, str)):
        raise invalid
    if not isinstance(member_after, str):
        raise invalid
    if member_after and (phase != INITIAL or not after_id):
        raise invalid
    if (phase == DELTA) != delta or phase not in (INITIAL, CHANGES, DELTA):
        raise invalid
    if after_seq < 0 or upto_seq < after_seq or not 1 <= page_size <= 999:
        raise invalid
    return Position(
        kind,
        phase,
        after_seq,
        upto_seq,
        after_id or None,
        tuple(select.split(",")) if select else None,
        page_size,
        member_after or None,
    )


class DeltaService:
    # At most this many members@delta entries in a first round's page: a larger group is
    # listed again on the next page with the rest of its members, as Graph splits them.
    members_per_page = 1000

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self, kind: str, select: tuple[str, ...] | None, page_size: int, *, latest: bool = False
    ) -> Position:
        """A first round from the log's current end; `latest` ($deltatoken=latest) skips the
        listing: the round is empty and ends where the log is now."""
        with self.db.read() as conn:
            end = last_seq(conn)
        if latest:
            return Position(kind, CHANGES, end, end, None, select, page_size)
        return Position(kind, INITIAL, 0, end, None, select, page_size)

    def resume(self, position: Position) -> Position:
        """The position to read from for a token: a delta token starts a changes round up to the
        log's current end; a skip token continues its round."""
        with self.db.read() as conn:
            end = last_seq(conn)
        if max(position.after_seq, position.upto_seq) > end:
            raise SyncStateGone(
                "The delta token names a change-log position this directory does not hold; "
                "start a new round without a token (resync)."
            )
        if position.phase == DELTA:
            return replace(position, phase=CHANGES, upto_seq=end, after_id=None)
        return position

    def page(self, position: Position) -> DeltaPage:
        table = KIND_TABLES[position.kind]
        limit = position.page_size
        with self.db.read() as conn:
            if position.phase == INITIAL and position.kind == "group":
                return self._first_round_groups(conn, position)
            if position.phase == INITIAL:
                rows = repo.page(conn, table, after_id=position.after_id, limit=limit + 1, deleted=False)
                more = len(rows) > limit
                items = [DeltaItem(r["id"], r, None) for r in rows[:limit]]
            else:
                ids = delta_repo.changed_ids(
                    conn,
                    position.kind,
                    position.after_seq,
                    position.upto_seq,
                    after_id=position.after_id,
                    limit=limit + 1,
                )
                more = len(ids) > limit
                ids = ids[:limit]
                records = repo.by_ids(conn, table, ids)
                items = [_changed_item(object_id, records.get(object_id)) for object_id in ids]
                if position.kind == "group":
                    self._member_deltas(conn, position, items)
        if more:
            return DeltaPage(items, replace(position, after_id=items[-1].id), None)
        end = Position(
            position.kind, DELTA, position.upto_seq, position.upto_seq, None, position.select, limit
        )
        return DeltaPage(items, None, end)

    def _first_round_groups(self, conn: Any, position: Position) -> DeltaPage:
        """Live groups with their live members, at most `page_size` groups and
        `members_per_page` members a page; a group cut short continues on the next page."""
        budget = self.members_per_page
        items: list[DeltaItem] = []

        def add(group: Record, after: str | None) -> str | None:
            """Add the group with what the budget allows; the last member listed if cut short."""
            nonlocal budget
            members = repo.first_live_members(conn, group["id"], budget + 1, after=after)
            shown = members[:budget]
            items.append(DeltaItem(group["id"], group, None, [MemberDelta(m, k, False) for m, k in shown]))
            budget -= len(shown)
            return shown[-1][0] if len(members) > len(shown) and shown else None

        if position.member_after is not None and position.after_id is not None:
            group = repo.get(conn, groups, position.after_id)
            cut = add(group, position.member_after) if group is not None else None
            if cut is not None:
                return DeltaPage(items, replace(position, member_after=cut), None)
        room = position.page_size - len(items)
        rows = repo.page(conn, groups, after_id=position.after_id, limit=room + 1, deleted=False)
        listed = 0
        for row in rows[:room]:
            if budget == 0:
                break
            cut = add(row, None)
            listed += 1
            if cut is not None:
                return DeltaPage(items, replace(position, after_id=row["id"], member_after=cut), None)
        if listed < len(rows):  # groups left: past the page size, or the member budget ran out
            return DeltaPage(items, replace(position, after_id=items[-1].id, member_after=None), None)
        end = Position(
            position.kind,
            DELTA,
            position.upto_seq,
            position.upto_seq,
            None,
            position.select,
            position.page_size,
        )
        return DeltaPage(items, None, end)

    @staticmethod
    def _member_deltas(conn: Any, position: Position, items: list[DeltaItem]) -> None:
        """members@delta of the live groups in a changes round: each member added or removed in
        the round once, as the membership stands now."""
        live = [item for item in items if item.removed is None]
        touched = delta_repo.touched_members(
            conn, [i.id for i in live], position.after_seq, position.upto_seq
        )
        current = repo.live_members(conn, list(touched))
        gone = [m for g, ms in touched.items() for m in ms if m not in dict(current.get(g, []))]
        kinds = delta_repo.object_kinds(conn, gone)
        for item in live:
            if item.id not in touched:
                continue
            now = dict(current.get(item.id, []))
            item.members = [
                MemberDelta(m, now[m], False) if m in now else MemberDelta(m, kinds.get(m), True)
                for m in touched[item.id]
            ]


def _changed_item(object_id: str, record: Record | None) -> DeltaItem:
    if record is None:
        return DeltaItem(object_id, None, "deleted")
    if record.get("deleted_date_time") is not None:
        return DeltaItem(object_id, None, "changed")
    return DeltaItem(object_id, record, None)

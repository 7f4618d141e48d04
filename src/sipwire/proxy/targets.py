"""Determining request targets (RFC 3261 §16.5), from the location service
written by the registrar, with Path (RFC 3327 §5.4) and outbound (RFC 5626 §7).

The lookup itself is the caller's (``LocationStore.lookup`` is a coroutine):
``lookup_aor`` says which address-of-record to look up, if any, and
``determine_targets`` turns the bindings found into a ``TargetSet``, or into
the response to send when there is nowhere to go.

Reading of §16.5 where it leaves room:

- No bindings for an AOR of a served domain: 404 (Not Found).  The location
  service cannot tell an AOR that never registered from one whose bindings
  expired, so "a resource at this proxy that does not exist" is taken to be
  an AOR with no bindings.  A caller that knows the user exists (from its
  user store) passes ``known=True`` and gets the 480 of an empty target set.
- Bindings exist but none can be used (every flow they need is down, or no
  contact is a SIP URI): 480 (Temporarily Unavailable), §16.5's answer for a
  target set that "remains empty".
- A Request-URI outside the served domains with relaying off, and not
  routed here by a Route value of ours: 403 (Forbidden), with a Warning.
- More targets to try in parallel than the request's Incoming Max-Breadth
  (RFC 5393 §5.3.3, ``proxy.breadth``): 440 (Max-Breadth Exceeded), with a
  Warning.  Otherwise each target of a group gets its share of it, which
  ``forward`` writes in the ``Max-Breadth`` of its branch.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from .._frozen import quick_init
from ..location.binding import Binding, Source, sort_bindings
from ..message.errors import ParseError
from ..message.message import Request, Response
from ..message.uri import URI
from .breadth import incoming_breadth, split_breadth
from .config import ProxyConfig, default_port, normalize_host, uri_transport
from .validate import reject

__all__ = ["FlowCheck", "Target", "TargetSet", "behind_nat", "determine_targets",
           "lookup_aor", "needs_flow"]

#: whether a registered flow can still carry requests (RFC 5626 §7: a closed
#: connection invalidates the bindings that use it)
FlowCheck = Callable[[Source], bool]

#: transports whose clients cannot be reached but over their own connection
_CONNECTION_ONLY = frozenset({"WS", "WSS"})


@quick_init
@dataclass(frozen=True, slots=True)
class Target:
    """One element of the target set (§16.5).

    ``uri`` becomes the Request-URI; ``path`` is the stored path vector of
    the binding, preloaded as Route (RFC 3327 §5.4); ``flow`` the flow the
    request must use when it goes straight to the UA (RFC 5626 §7, and
    WebSocket clients, RFC 7118 §5.3); ``alternates`` other flows of the
    same UA instance, tried in turn when this one fails with 430 (RFC 5626
    §7).  ``binding`` is the location-service entry it came from, if any.
    ``breadth`` is the Max-Breadth of its branch (RFC 5393 §5.3.3), or None
    for all of the request's.
    """

    uri: URI
    q: float = 1.0
    path: tuple[str, ...] = ()
    flow: Source | None = None
    instance_id: str | None = None
    alternates: tuple[Target, ...] = ()
    binding: Binding | None = None
    breadth: int | None = None

    def next_alternate(self) -> Target | None:
        """The first alternate, carrying the rest as its own alternates and
        this target's Max-Breadth (it takes the place of this branch)."""
        if not self.alternates:
            return None
        alternate = _with_alternates(self.alternates[0], list(self.alternates[1:]))
        return replace(alternate, breadth=self.breadth)


@quick_init
@dataclass(frozen=True, slots=True)
class TargetSet:
    """Targets in the order to try them: ``groups`` are tried one after the
    other, the targets of a group in parallel (§16.6)."""

    groups: tuple[tuple[Target, ...], ...]

    @classmethod
    def single(cls, target: Target) -> TargetSet:
        return cls(((target,),))

    def __iter__(self) -> Iterator[Target]:
        for group in self.groups:
            yield from group

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups)

    @property
    def first(self) -> Target:
        return self.groups[0][0]


def lookup_aor(request: Request, config: ProxyConfig) -> str | None:
    """The address-of-record to look up for ``request``, or None when its
    Request-URI is not one of a user of a domain this proxy serves (§16.5).

    Only a Request-URI with a user part, in a served domain, with no port or
    one of ours, is an AOR here (``ProxyConfig.is_local_uri``):
    ``sip:bob@127.0.0.1:5490`` names a UA listening on a served host, not a
    user of it.  The Request-URI is canonicalized as §10.3 asks
    (``URI.aor``), without the port.  A Request-URI with a user at one of
    the proxy's own addresses (a UA dialling by IP address) is read as an
    AOR of the served domain when there is only one.  A ``maddr``
    predetermines the target: no lookup.  Whether a request is in a dialog
    is the caller's to check first: those are never retargeted (§16.12).
    """
    uri = request.uri
    if not uri.is_sip or uri.maddr is not None or uri.user is None:
        return None
    if config.is_local_uri(uri):
        return config.myself.aor(uri)
    if config.is_own_uri(uri) and len(config.domains) == 1:
        (domain,) = config.domains
        return uri.copy(host=domain, port=None).aor
    return None


def needs_flow(binding: Binding, config: ProxyConfig, *, uri: URI | None = None) -> bool:
    """Whether requests for ``binding`` must go over the flow it registered on:
    an RFC 5626 flow (reg-id), a WebSocket client, any contact with
    ``config.route_to_source``, or with ``config.nat`` a contact behind a NAT
    (``behind_nat``).  Not when a path leads to it: the first proxy of the
    path owns the flow then.  ``uri`` is ``binding.uri`` when the caller has
    parsed it."""
    source = binding.source
    if source is None or binding.path:
        return False
    if (binding.reg_id is not None or source.transport.upper() in _CONNECTION_ONLY
            or config.route_to_source):
        return True
    return config.nat and behind_nat(binding, source, uri=uri)


def behind_nat(binding: Binding, source: Source, *, uri: URI | None = None) -> bool:
    """Whether the contact of ``binding`` is not where its REGISTER came from,
    which is what a NAT between the UA and us looks like.

    True when the contact names another IP address than the packet source
    (in the usual case a private one: RFC 1918, RFC 6598, link-local, ULA),
    a name that never resolves (``.invalid``, RFC 6761 §6.4), or over UDP
    another port than the source port (the NAT's mapping, RFC 3581).  Over
    TCP and TLS the source port is the UA's ephemeral port and tells nothing.
    A contact naming a host by another name is left to DNS.  ``uri`` is
    ``binding.uri`` when the caller has parsed it.
    """
    if uri is None:
        try:
            uri = binding.uri
        except ParseError:
            return False
    host = normalize_host(uri.host)
    if host.endswith(".invalid"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    if host != normalize_host(source.host):
        return True
    if source.transport.upper() != "UDP":
        return False
    return (uri.port or default_port(uri_transport(uri))) != source.port


def determine_targets(
    request: Request,
    config: ProxyConfig,
    bindings: Sequence[Binding] | None = None,
    *,
    now: float | None = None,
    relay: bool | None = None,
    known: bool = False,
    flow_alive: FlowCheck | None = None,
    aor: str | None = None,
) -> TargetSet | Response:
    """The target set of a preprocessed request (§16.5), or the response to send.

    ``bindings`` are what the location service returned for
    ``lookup_aor(request, config)``; they are required when that is not
    None.  ``relay`` overrides ``config.relay`` (pass True for a
    request the caller knows may be relayed).  ``now`` drops
    bindings expired meanwhile; ``flow_alive`` tells which registered flows
    are still up; ``known`` says the AOR exists though it has no binding;
    ``aor`` is ``lookup_aor(request, config)`` when the caller has it already.

    Targets from bindings come highest q first; ``config.forking`` says
    whether they form one parallel group or groups of equal q tried in turn.
    A URI is in the set once (§16.5); of the bindings of one UA instance
    (``+sip.instance``) only one is, the others being its ``alternates``
    (RFC 5626 §7).
    """
    if aor is None:
        aor = lookup_aor(request, config)
    if aor is None:
        allowed = config.relay if relay is None else relay
        if not allowed:
            return reject(request, config, 403, "relaying is not allowed here")
        return TargetSet.single(Target(request.uri.copy()))
    if bindings is None:
        raise ValueError(f"{aor} is served here: pass the bindings the location service has")
    live = [b for b in bindings if now is None or not b.expired(now)]
    if not live:
        if known:
            return request.reply(480)
        return reject(request, config, 404, f"{aor} has no registered contact")
    targets = _targets(sort_bindings(live), config, flow_alive)
    if not targets:
        return request.reply(480)
    if config.forking == "parallel":
        groups: list[list[Target]] = [targets]
    else:
        groups = list(_by_q(targets))
    breadth = incoming_breadth(request, config.max_breadth)
    widest = max([len(group) for group in groups])
    if widest > breadth:
        return reject(request, config, 440, f"{widest} targets to try in parallel, more "
                                            f"than the Max-Breadth of {breadth} (RFC 5393)")
    return TargetSet(tuple([_with_breadth(group, breadth) for group in groups]))


def _with_breadth(group: list[Target], breadth: int) -> tuple[Target, ...]:
    """The targets of a parallel group, each with its share of ``breadth``."""
    if len(group) == 1:
        return (_with_breadth_of(group[0], breadth),)
    shares = split_breadth(breadth, len(group))
    return tuple(_with_breadth_of(target, share)
                 for target, share in zip(group, shares, strict=True))


def _with_breadth_of(target: Target, breadth: int) -> Target:
    """``replace(target, breadth=breadth)``, without ``replace``'s field walk
    (once per target of every request looked up)."""
    return Target(target.uri, target.q, target.path, target.flow, target.instance_id,
                  target.alternates, target.binding, breadth)


def _targets(bindings: Iterable[Binding], config: ProxyConfig,
             flow_alive: FlowCheck | None) -> list[Target]:
    chosen: list[Target] = []
    seen: list[URI] = []
    by_instance: dict[str, int] = {}
    spares: dict[str, list[Target]] = {}
    for binding in bindings:
        target = _target(binding, config, flow_alive)
        if target is None:
            continue
        instance = binding.instance_id
        if instance is not None and instance in by_instance:
            if binding.reg_id is not None:
                spares[instance].append(target)
            continue
        if any(target.uri == uri for uri in seen):
            continue
        seen.append(target.uri)
        if instance is not None:
            by_instance[instance] = len(chosen)
            spares[instance] = []
        chosen.append(target)
    for instance, index in by_instance.items():
        if spares[instance]:
            chosen[index] = _with_alternates(chosen[index], spares[instance])
    return chosen


def _target(binding: Binding, config: ProxyConfig,
            flow_alive: FlowCheck | None) -> Target | None:
    try:
        uri = binding.uri
    except ParseError:
        return None
    flow = binding.source if needs_flow(binding, config, uri=uri) else None
    if flow is not None and flow_alive is not None and not flow_alive(flow):
        return None
    if not uri.is_sip and not binding.path:
        # nothing here can route a tel: or mailto: contact (§16.6 step 7)
        return None
    return Target(uri, binding.q, binding.path, flow, binding.instance_id, binding=binding)


def _with_alternates(target: Target, spares: list[Target]) -> Target:
    return Target(target.uri, target.q, target.path, target.flow, target.instance_id,
                  tuple(spares), target.binding, target.breadth)


def _by_q(targets: list[Target]) -> Iterator[list[Target]]:
    group: list[Target] = []
    for target in targets:
        if group and group[-1].q != target.q:
            yield group
            group = []
        group.append(target)
    if group:
        yield group

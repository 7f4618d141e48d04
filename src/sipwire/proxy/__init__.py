"""A stateful proxy (RFC 3261 §16, with Path, RFC 3327, and outbound, RFC
5626 §7) as sans-I/O building blocks: no sockets, no clocks; time is an
argument.  The server drives them with the transaction layer and a location
store.

For each new request (``ProxyCore.receive`` runs steps 1 to 3):

1. ``validate_request`` (§16.3): 400, 416, 483, 482, 420, or None;
2. ``preprocess_route`` (§16.4): strict-route fix, maddr, our top Route
   values off; the token in them (``routing.RouteToken``) says whether the
   request belongs to a dialog this proxy record-routed;
3. ``lookup_aor`` / ``determine_targets`` (§16.5): a ``TargetSet`` from the
   location service's bindings, or 404 / 480; in a dialog, never a lookup;
4. ``forward`` (§16.6): the request for one target with its ``branch_for``
   branch, its ``NextHop`` and Record-Route per interface (RFC 5658);
5. ``ResponseContext`` (§16.7, §16.8, §16.10): responses, Timer C and
   CANCELs in, ``ForwardResponse`` / ``CancelBranch`` / ``TryTarget`` /
   ``AbandonBranch`` out.
"""

from .branch import branch_for, is_looped, loop_hash, loop_part
from .config import ProxyAddress, ProxyConfig
from .context import (
    AbandonBranch,
    CancelBranch,
    ContextAction,
    ForwardResponse,
    ResponseContext,
    TryTarget,
    best_response,
    final_response,
)
from .core import Decision, Drop, ForwardTo, HandleLocally, LookUp, ProxyCore, Respond
from .forward import Forwarded, forward, forward_request, record_route_uri
from .routing import (
    NextHop,
    is_for_me,
    next_hop_for_uri,
    preprocess_route,
    routed_to_me,
    strict_route,
)
from .targets import Target, TargetSet, determine_targets, lookup_aor, needs_flow
from .validate import validate_request

__all__ = [
    "AbandonBranch",
    "CancelBranch",
    "ContextAction",
    "Decision",
    "Drop",
    "ForwardResponse",
    "ForwardTo",
    "Forwarded",
    "HandleLocally",
    "LookUp",
    "NextHop",
    "ProxyAddress",
    "ProxyConfig",
    "ProxyCore",
    "Respond",
    "ResponseContext",
    "Target",
    "TargetSet",
    "TryTarget",
    "best_response",
    "branch_for",
    "determine_targets",
    "final_response",
    "forward",
    "forward_request",
    "is_for_me",
    "is_looped",
    "lookup_aor",
    "loop_hash",
    "loop_part",
    "needs_flow",
    "next_hop_for_uri",
    "preprocess_route",
    "record_route_uri",
    "routed_to_me",
    "strict_route",
    "validate_request",
]

"""RFC 3261 §16.3: request validation before proxying."""

from __future__ import annotations

from typing import Any

from sipwire import Request
from sipwire.proxy import ProxyConfig, Target, branch_for, forward, validate_request

from .builders import config, request


def test_valid_request_passes() -> None:
    assert validate_request(request(), config()) is None


def test_unknown_method_and_header_are_not_refused() -> None:
    # §16.3 step 1: "An element MUST NOT refuse to proxy a request because it
    # contains a method or header field it does not know about."
    req = request("FOOBAR", headers=["X-Odd: ;;;", "Date: not a date"])
    assert validate_request(req, config()) is None


def test_malformed_route_is_400_with_warning() -> None:
    # step 1: components the proxy uses must be well-formed
    response = validate_request(request(headers=["Route: sip:no-brackets"]), config())
    assert response is not None
    assert response.status == 400
    warning = response.headers.get("Warning") or ""
    assert warning.startswith("399 proxy.example.com") and "Route" in warning


def test_malformed_proxy_require_is_400() -> None:
    response = validate_request(request(headers=["Proxy-Require: a b"]), config())
    assert response is not None and response.status == 400


def test_unsupported_uri_scheme_is_416() -> None:
    # step 2
    response = validate_request(request(uri="tel:+15551234567"), config())
    assert response is not None
    assert response.status == 416
    assert response.reason == "Unsupported URI Scheme"


def test_served_scheme_is_configurable() -> None:
    cfg = config(schemes=frozenset({"sip", "sips", "tel"}))
    assert validate_request(request(uri="tel:+15551234567"), cfg) is None


def test_max_forwards_zero_is_483() -> None:
    # step 3
    response = validate_request(request(max_forwards=0), config())
    assert response is not None
    assert response.status == 483
    assert response.to.tag is not None  # answered as a UAS (§8.2.6.2)


def test_max_forwards_one_passes() -> None:
    assert validate_request(request(max_forwards=1), config()) is None


def test_absent_max_forwards_passes() -> None:
    # "If the request does not contain a Max-Forwards header field, this check
    # is passed."  (parse() refuses such a request, §8.1.1; built ones reach here)
    req = request()
    req.headers.remove("Max-Forwards")
    assert validate_request(req, config()) is None


def test_options_with_max_forwards_zero_is_answered_by_the_proxy() -> None:
    # step 3: "If the request was for OPTIONS, the element MAY act as the
    # final recipient and respond per Section 11."
    response = validate_request(request("OPTIONS", max_forwards=0), config())
    assert response is not None
    assert response.status == 200
    assert {"INVITE", "OPTIONS"} <= set(response.headers.getall("Allow"))


def test_options_with_max_forwards_zero_is_483_when_not_answered() -> None:
    response = validate_request(request("OPTIONS", max_forwards=0),
                                config(answer_options=False))
    assert response is not None and response.status == 483


def _looped_back(received: Request, cfg: ProxyConfig, **changes: Any) -> Request:
    """What comes back to the proxy after it forwarded ``received`` to a
    target that sends it straight back: our Via on top of the received ones."""
    sent = forward(received, Target(received.uri), cfg, branch_for(received, 0)).request
    via = sent.headers.getall("Via")
    return request(vias=via, max_forwards=int(sent.headers["Max-Forwards"]), **changes)


def test_loop_is_482() -> None:
    # step 4: the branch computed now equals the one in our Via
    cfg = config()
    received = request(uri="sip:carol@elsewhere.example.org")
    back = _looped_back(received, cfg, uri="sip:carol@elsewhere.example.org")
    response = validate_request(back, cfg)
    assert response is not None
    assert response.status == 482


def test_loop_through_another_proxy_is_482() -> None:
    cfg = config()
    received = request(uri="sip:carol@elsewhere.example.org")
    sent = forward(received, Target(received.uri), cfg, branch_for(received, 0)).request
    vias = ["SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKother",
            *sent.headers.getall("Via")]
    back = request(uri="sip:carol@elsewhere.example.org", vias=vias)
    response = validate_request(back, cfg)
    assert response is not None and response.status == 482


def test_spiral_with_new_request_uri_is_not_a_loop() -> None:
    # "If they differ, the request is spiraling, and processing continues."
    cfg = config()
    received = request(uri="sip:carol@elsewhere.example.org")
    back = _looped_back(received, cfg, uri="sip:carol-voicemail@elsewhere.example.org")
    assert validate_request(back, cfg) is None


def test_spiral_with_new_proxy_authorization_is_not_a_loop() -> None:
    cfg = config()
    received = request(uri="sip:carol@elsewhere.example.org")
    back = _looped_back(received, cfg, uri="sip:carol@elsewhere.example.org",
                        headers=['Proxy-Authorization: Digest username="a", realm="b"'])
    assert validate_request(back, cfg) is None


def test_loop_detection_can_be_turned_off() -> None:
    cfg = config(loop_detection=False)
    received = request(uri="sip:carol@elsewhere.example.org")
    back = _looped_back(received, cfg, uri="sip:carol@elsewhere.example.org")
    assert validate_request(back, cfg) is None


def test_another_elements_via_with_our_hash_is_not_ours() -> None:
    # only a Via with our sent-by counts
    cfg = config()
    received = request(uri="sip:carol@elsewhere.example.org")
    branch = branch_for(received, 0)
    back = request(uri="sip:carol@elsewhere.example.org",
                   vias=[f"SIP/2.0/UDP 198.51.100.7:5060;branch={branch}",
                         "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds"])
    assert validate_request(back, cfg) is None


def test_unknown_proxy_require_is_420_with_unsupported() -> None:
    # step 5
    req = request(headers=["Proxy-Require: foo, sec-agree", "Proxy-Require: Foo, bar"])
    response = validate_request(req, config(supported=frozenset({"sec-agree"})))
    assert response is not None
    assert response.status == 420
    assert response.headers.getall("Unsupported") == ["foo", "Foo", "bar"]


def test_supported_proxy_require_passes() -> None:
    req = request(headers=["Proxy-Require: Sec-Agree"])
    assert validate_request(req, config(supported=frozenset({"sec-agree"}))) is None


def test_checks_run_in_rfc_order() -> None:
    # a request failing several checks gets the answer of the first (416 before 483)
    response = validate_request(request(uri="tel:+15551234567", max_forwards=0), config())
    assert response is not None and response.status == 416
    req = request(max_forwards=0, headers=["Proxy-Require: foo"])
    response = validate_request(req, config())
    assert response is not None and response.status == 483

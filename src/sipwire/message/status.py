"""SIP response status codes (RFC 3261 §21 and later IANA registrations).

``Status(486).phrase == "Busy Here"``; ``Status.BUSY_HERE == 486``.  A code not
in the table but inside 100-699 still makes a ``Status`` whose phrase is the
class's generic one, because §8.1.3.2 tells a UAC to treat an unknown code as
the x00 code of its class.
"""

from __future__ import annotations

import enum

__all__ = ["Status", "StatusClass", "reason_phrase"]


class StatusClass(enum.IntEnum):
    """The six response classes of RFC 3261 §7.2."""

    PROVISIONAL = 1
    SUCCESS = 2
    REDIRECTION = 3
    CLIENT_FAILURE = 4
    SERVER_FAILURE = 5
    GLOBAL_FAILURE = 6


class Status(enum.IntEnum):
    """A response status code with its reason phrase (RFC 3261 §21)."""

    phrase: str

    def __new__(cls, code: int, phrase: str = "") -> Status:
        obj = int.__new__(cls, code)
        obj._value_ = code
        obj.phrase = phrase
        return obj

    # 1xx, RFC 3261 §21.1 and RFC 6228 (199)
    TRYING = 100, "Trying"
    RINGING = 180, "Ringing"
    CALL_IS_BEING_FORWARDED = 181, "Call Is Being Forwarded"
    QUEUED = 182, "Queued"
    SESSION_PROGRESS = 183, "Session Progress"
    EARLY_DIALOG_TERMINATED = 199, "Early Dialog Terminated"
    # 2xx, §21.2, RFC 3265 (202) and RFC 5839 (204)
    OK = 200, "OK"
    ACCEPTED = 202, "Accepted"
    NO_NOTIFICATION = 204, "No Notification"
    # 3xx, §21.3
    MULTIPLE_CHOICES = 300, "Multiple Choices"
    MOVED_PERMANENTLY = 301, "Moved Permanently"
    MOVED_TEMPORARILY = 302, "Moved Temporarily"
    USE_PROXY = 305, "Use Proxy"
    ALTERNATIVE_SERVICE = 380, "Alternative Service"
    # 4xx, §21.4 and later RFCs
    BAD_REQUEST = 400, "Bad Request"
    UNAUTHORIZED = 401, "Unauthorized"
    PAYMENT_REQUIRED = 402, "Payment Required"
    FORBIDDEN = 403, "Forbidden"
    NOT_FOUND = 404, "Not Found"
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed"
    NOT_ACCEPTABLE = 406, "Not Acceptable"
    PROXY_AUTHENTICATION_REQUIRED = 407, "Proxy Authentication Required"
    REQUEST_TIMEOUT = 408, "Request Timeout"
    GONE = 410, "Gone"
    CONDITIONAL_REQUEST_FAILED = 412, "Conditional Request Failed"
    REQUEST_ENTITY_TOO_LARGE = 413, "Request Entity Too Large"
    REQUEST_URI_TOO_LONG = 414, "Request-URI Too Large"
    UNSUPPORTED_MEDIA_TYPE = 415, "Unsupported Media Type"
    UNSUPPORTED_URI_SCHEME = 416, "Unsupported URI Scheme"
    UNKNOWN_RESOURCE_PRIORITY = 417, "Unknown Resource-Priority"
    BAD_EXTENSION = 420, "Bad Extension"
    EXTENSION_REQUIRED = 421, "Extension Required"
    SESSION_INTERVAL_TOO_SMALL = 422, "Session Interval Too Small"
    INTERVAL_TOO_BRIEF = 423, "Interval Too Brief"
    USE_IDENTITY_HEADER = 428, "Use Identity Header"
    PROVIDE_REFERRER_IDENTITY = 429, "Provide Referrer Identity"
    FLOW_FAILED = 430, "Flow Failed"
    ANONYMITY_DISALLOWED = 433, "Anonymity Disallowed"
    BAD_IDENTITY_INFO = 436, "Bad Identity-Info"
    UNSUPPORTED_CERTIFICATE = 437, "Unsupported Certificate"
    INVALID_IDENTITY_HEADER = 438, "Invalid Identity Header"
    FIRST_HOP_LACKS_OUTBOUND_SUPPORT = 439, "First Hop Lacks Outbound Support"
    MAX_BREADTH_EXCEEDED = 440, "Max-Breadth Exceeded"
    BAD_INFO_PACKAGE = 469, "Bad Info Package"
    CONSENT_NEEDED = 470, "Consent Needed"
    TEMPORARILY_UNAVAILABLE = 480, "Temporarily not available"
    CALL_OR_TRANSACTION_DOES_NOT_EXIST = 481, "Call Leg/Transaction Does Not Exist"
    LOOP_DETECTED = 482, "Loop Detected"
    TOO_MANY_HOPS = 483, "Too Many Hops"
    ADDRESS_INCOMPLETE = 484, "Address Incomplete"
    AMBIGUOUS = 485, "Ambiguous"
    BUSY_HERE = 486, "Busy Here"
    REQUEST_TERMINATED = 487, "Request Terminated"
    NOT_ACCEPTABLE_HERE = 488, "Not Acceptable Here"
    BAD_EVENT = 489, "Bad Event"
    REQUEST_PENDING = 491, "Request Pending"
    UNDECIPHERABLE = 493, "Undecipherable"
    SECURITY_AGREEMENT_REQUIRED = 494, "Security Agreement Required"
    # 5xx, §21.5 and later RFCs
    SERVER_INTERNAL_ERROR = 500, "Internal Server Error"
    INTERNAL_SERVER_ERROR = 500, "Internal Server Error"
    NOT_IMPLEMENTED = 501, "Not Implemented"
    BAD_GATEWAY = 502, "Bad Gateway"
    SERVICE_UNAVAILABLE = 503, "Service Unavailable"
    SERVER_TIME_OUT = 504, "Server Time-out"
    VERSION_NOT_SUPPORTED = 505, "SIP Version not supported"
    MESSAGE_TOO_LARGE = 513, "Message Too Large"
    PUSH_NOTIFICATION_SERVICE_NOT_SUPPORTED = 555, "Push Notification Service Not Supported"
    PRECONDITION_FAILURE = 580, "Precondition Failure"
    # 6xx, §21.6 and later RFCs
    BUSY_EVERYWHERE = 600, "Busy Everywhere"
    DECLINE = 603, "Decline"
    DOES_NOT_EXIST_ANYWHERE = 604, "Does not exist anywhere"
    NOT_ACCEPTABLE_ANYWHERE = 606, "Not Acceptable"
    UNWANTED = 607, "Unwanted"
    REJECTED = 608, "Rejected"

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        # §8.1.3.2: an unrecognised code is treated as the x00 of its class, so
        # any code of 100-699 is a valid Status with that class's phrase.
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 699:
            generic = cls(value // 100 * 100)
            member = int.__new__(cls, value)
            member._name_ = f"STATUS_{value}"
            member._value_ = value
            member.phrase = generic.phrase
            return member
        return None

    @property
    def status_class(self) -> StatusClass:
        return StatusClass(self // 100)

    @property
    def is_provisional(self) -> bool:
        return 100 <= self < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self < 300

    @property
    def is_redirection(self) -> bool:
        return 300 <= self < 400

    @property
    def is_client_failure(self) -> bool:
        return 400 <= self < 500

    @property
    def is_server_failure(self) -> bool:
        return 500 <= self < 600

    @property
    def is_global_failure(self) -> bool:
        return 600 <= self < 700

    @property
    def is_final(self) -> bool:
        return self >= 200

    @property
    def is_known(self) -> bool:
        """True for a code that is registered, not just inside 100-699."""
        return self._value_ in type(self)._value2member_map_ and not self._name_.startswith(
            "STATUS_"
        )


def reason_phrase(code: int) -> str:
    """The standard reason phrase for ``code`` (the class's one when unknown)."""
    return Status(code).phrase

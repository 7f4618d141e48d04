# Sourced by scripts/test.sh: installs the outside programs the tests drive
# (SIPp, sipsak, redis-server, Kamailio, baresip, tshark, SIPVicious' svcrack) from
# Debian packages when run as root and missing, and makes CI fail rather than
# skip when one is absent.
_sipwire_need=()
command -v sipp >/dev/null 2>&1 || _sipwire_need+=(sip-tester)
command -v sipsak >/dev/null 2>&1 || _sipwire_need+=(sipsak)
command -v redis-server >/dev/null 2>&1 || _sipwire_need+=(redis-server)
command -v openssl >/dev/null 2>&1 || _sipwire_need+=(openssl)
command -v baresip >/dev/null 2>&1 || _sipwire_need+=(baresip)
command -v kamailio >/dev/null 2>&1 || _sipwire_need+=(kamailio)
command -v tshark >/dev/null 2>&1 || _sipwire_need+=(tshark)
command -v sngrep >/dev/null 2>&1 || _sipwire_need+=(sngrep)
command -v groff >/dev/null 2>&1 || _sipwire_need+=(groff-base)
command -v systemd-analyze >/dev/null 2>&1 || _sipwire_need+=(systemd)
command -v svcrack >/dev/null 2>&1 || command -v sipvicious_svcrack >/dev/null 2>&1 \
  || _sipwire_need+=(sipvicious)
if [ "${#_sipwire_need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${_sipwire_need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${_sipwire_need[@]}") >/dev/null \
    || echo "warning: could not install ${_sipwire_need[*]}" >&2
fi
unset _sipwire_need
if [ -n "${CI:-}" ]; then
  export SIPWIRE_REQUIRE_REDIS=1 SIPWIRE_REQUIRE_SIPP=1 SIPWIRE_REQUIRE_BARESIP=1 \
    SIPWIRE_REQUIRE_KAMAILIO=1 SIPWIRE_REQUIRE_TSHARK=1 SIPWIRE_REQUIRE_SNGREP=1 SIPWIRE_REQUIRE_SIPVICIOUS=1
fi

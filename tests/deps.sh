#!/bin/sh
# Install the Debian 12 packages hookspool needs.
#   sh tests/deps.sh           to build: compiler, autotools, the libraries
#   sh tests/deps.sh --test    that, and what the tests and the demo run:
#                              lighttpd, Apache (mod_fcgid), nginx,
#                              spawn-fcgi, python3, curl, clang (fuzzers),
#                              prometheus (promtool)
#   sh tests/deps.sh --bench   --test, and the benchmarks' tools
# Idempotent; as root it refreshes the package lists before installing.
set -e
PKGS="build-essential autoconf automake pkg-config
libfcgi-dev libcurl4-openssl-dev uuid-dev libssl-dev libjansson-dev
libinih-dev zlib1g-dev"
TEST_PKGS="lighttpd apache2 libapache2-mod-fcgid spawn-fcgi nginx-light
curl python3 openssl jq groff-base procps clang libclang-rt-14-dev tzdata
debhelper dh-autoreconf lintian dpkg-dev fakeroot prometheus"
case ${1:-} in
'') ;;
--test) PKGS="$PKGS $TEST_PKGS" ;;
--bench) PKGS="$PKGS $TEST_PKGS wrk php-fpm php-cgi hyperfine time linux-perf" ;;
*)
	echo "usage: sh tests/deps.sh [--test | --bench]" >&2
	exit 64
	;;
esac

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: run as root to install:$missing" >&2
	exit 1
fi
# A fresh machine has no package lists yet.
apt-get update -qq
# Installing must not start the packaged web servers on port 80: the tests
# start their own on loopback ports.
guard=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	guard=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $missing
[ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
exit 0

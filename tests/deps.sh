#!/bin/sh
# Install the Debian 12 packages hookspool needs to build, test and demo.
# Idempotent; as root it refreshes the package lists first.
set -e
PKGS="build-essential autoconf automake pkg-config
libfcgi-dev libcurl4-openssl-dev uuid-dev libssl-dev libjansson-dev
libinih-dev zlib1g-dev
lighttpd apache2 libapache2-mod-fcgid spawn-fcgi nginx-light
curl python3 openssl jq clang libclang-rt-14-dev
debhelper dh-autoreconf lintian dpkg-dev fakeroot"
[ "${1:-}" = --bench ] && PKGS="$PKGS wrk php-fpm php-cgi hyperfine time linux-perf"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing="$missing $p"
done
if [ "$(id -u)" != 0 ]; then
	[ -z "$missing" ] && exit 0
	echo "deps.sh: run as root to install:$missing" >&2
	exit 1
fi
apt-get update -qq
[ -z "$missing" ] && exit 0
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

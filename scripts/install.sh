#!/bin/sh
# scripts/install.sh: install clusterd on this machine as a systemd service.
#
#   sudo scripts/install.sh --init                     # the first machine: creates the cluster
#   sudo scripts/install.sh --join 10.0.1.5 --token T  # every other machine, through any member
#   sudo scripts/install.sh --bootstrap-expect 3 --token cdb1-... --join A --join B --join C
#                                                      # the same line on three machines
#   sudo scripts/install.sh --binary /tmp/clusterd     # upgrade: replace the binary, restart in place
#   sudo scripts/install.sh --uninstall                # remove unit and binary, keep the data
#
# It puts the binary at /usr/local/bin/clusterd (copied, then renamed into
# place, so a running node never sees half a file), the units
# clusterd.service and clusterd.slice in /etc/systemd/system, the flags in
# /etc/clusterd/clusterd.env (written once, never overwritten) and the data
# dir /var/lib/clusterd (0711: tasks' dynamic uids traverse it to their
# sandboxes, see clusterd.service); then daemon-reload (when a unit file
# changed) and enable --now. Running
# it again is harmless: a node whose binary or units changed is restarted in
# place (its tasks keep running), one where nothing changed is left alone.
# The unit and env files come from scripts/install/ beside this script (a
# release tarball has the same layout: clusterd, install.sh, install/).
set -eu

BIN=/usr/local/bin/clusterd
UNIT_DIR=/etc/systemd/system
ENV_DIR=/etc/clusterd
ENV_FILE=$ENV_DIR/clusterd.env
DATA_DIR=/var/lib/clusterd

usage() {
	cat <<'EOF'
usage: install.sh [--binary PATH] (--init | --join ADDR... [--token TOKEN] [--bootstrap-expect N]) [--env KEY=VALUE]... [--no-start]
       install.sh --uninstall

  --binary PATH          the clusterd binary to install (default: ./clusterd)
  --init                 this machine creates the cluster (clusterd init) on first start
  --join ADDR            join through a member: IP, IP:gossip-port or a DNS name (repeatable)
  --token TOKEN          with --join: the join token a new machine joins with (cdt1-...),
                         or the cluster's bootstrap token (cdb1-..., clusterd token bootstrap)
  --bootstrap-expect N   with --join and a bootstrap --token: form a new cluster once N
                         machines see each other
  --env KEY=VALUE        another CLUSTERD_* setting for the env file, e.g.
                         --env CLUSTERD_ATTRIBUTE=zone=us-east-1a (repeatable)
  --no-start             install and enable, but do not start or restart
  --uninstall            stop and disable the service, remove unit and binary;
                         keeps /var/lib/clusterd and /etc/clusterd

The mode options only shape a new /etc/clusterd/clusterd.env; an existing one
is kept (the file this run would write goes beside it as clusterd.env.new).
EOF
}

say() { echo "install.sh: $*"; }
die() {
	echo "install.sh: $*" >&2
	exit 1
}
usage_error() {
	echo "install.sh: $*; see install.sh --help" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
files=$here/install
binary=./clusterd
mode=
join=
token=
expect=
extra=
start=yes
uninstall=no

while [ $# -gt 0 ]; do
	case $1 in
	--*=*)
		# --opt=value: split it and look again.
		opt=${1%%=*}
		val=${1#*=}
		shift
		set -- "$opt" "$val" "$@"
		continue
		;;
	esac
	case $1 in
	--binary | --join | --token | --bootstrap-expect | --env)
		[ $# -ge 2 ] || usage_error "$1 needs a value"
		;;
	esac
	case $1 in
	--binary) binary=$2 && shift 2 ;;
	--init)
		[ "$mode" != join ] || usage_error "--init and --join are exclusive: --init creates a cluster, --join joins one"
		mode=init && shift
		;;
	--join)
		[ "$mode" != init ] || usage_error "--init and --join are exclusive: --init creates a cluster, --join joins one"
		case $2 in
		'' | *[!]A-Za-z0-9.:_[-]*) usage_error "--join '$2': expected an IP, IP:port or DNS name" ;;
		esac
		mode=join
		join=${join:+$join,}$2
		shift 2
		;;
	--token)
		case $2 in
		cdt1-*) token=$2 ;;
		*) usage_error "--token: expected a join token (cdt1-...), as 'clusterd init' printed it or 'clusterd token rotate' makes it" ;;
		esac
		shift 2
		;;
	--bootstrap-expect)
		case $2 in
		[1-9]) expect=$2 ;;
		*) usage_error "--bootstrap-expect '$2': expected a number from 1 to 9 (3 or 5)" ;;
		esac
		shift 2
		;;
	--env)
		case $2 in
		CLUSTERD_*=*) ;;
		*) usage_error "--env '$2': expected CLUSTERD_NAME=value (see clusterd agent --help for the names)" ;;
		esac
		key=${2%%=*}
		case $key in
		*[!A-Z0-9_]*) usage_error "--env '$2': the name may hold only A-Z, 0-9 and _" ;;
		esac
		case ${2#*=} in
		*[[:space:]]* | *\"* | *\'* | *\$* | *\\* | *\`*) usage_error "--env '$2': the value may not hold spaces, quotes, \$, \` or backslashes" ;;
		esac
		extra="$extra$2
"
		shift 2
		;;
	--no-start) start=no && shift ;;
	--uninstall) uninstall=yes && shift ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown option '$1'" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root: sudo $0 ..."
command -v systemctl >/dev/null 2>&1 || die "no systemctl: this script installs a systemd service; without systemd run 'clusterd agent' under your own supervisor"

# systemd_running is sd_booted(3): daemon-reload and start only make sense
# on a running systemd (not, say, in an image build's chroot).
systemd_running() { [ -d /run/systemd/system ]; }

if [ "$uninstall" = yes ]; then
	[ -z "$mode$expect$extra" ] || usage_error "--uninstall takes no other options"
	# No daemon-reload (see below, before the start): it would break the
	# transient units of the tasks that keep running. systemd forgets the
	# stopped clusterd.service on its own once its file is gone.
	if systemd_running; then
		systemctl disable --no-reload --now clusterd.service 2>/dev/null || true
		systemctl reset-failed clusterd.service 2>/dev/null || true
	else
		systemctl disable --no-reload clusterd.service 2>/dev/null || true
	fi
	rm -f "$UNIT_DIR/clusterd.service" "$UNIT_DIR/clusterd.slice" "$BIN"
	say "removed clusterd.service, clusterd.slice and $BIN; kept $DATA_DIR and $ENV_DIR"
	say "tasks this node started keep running as units in clusterd.slice (systemctl list-units 'clusterd-*');"
	say "a reinstall re-adopts them. To stop them: systemctl stop clusterd.slice"
	exit 0
fi

[ -n "$expect" ] && [ "$mode" != join ] && usage_error "--bootstrap-expect $expect needs the machines to find: add --join ADDR for each (or a DNS name for all)"
if [ -n "$expect" ]; then
	case $token in
	cdb1-*) ;;
	*) usage_error "--bootstrap-expect $expect needs the cluster's bootstrap token, the same on every machine: make one with 'clusterd token bootstrap' and pass --token cdb1-..." ;;
	esac
fi
for f in clusterd.service clusterd.slice clusterd.env; do
	[ -f "$files/$f" ] || die "missing $files/$f: run the install.sh that sits beside its install/ folder (a clusterd checkout's scripts/, or a release tarball)"
done
[ -f "$binary" ] || die "no clusterd binary at $binary: build one (CGO_ENABLED=0 go build -o clusterd .) or pass --binary PATH"
if ! version=$("$binary" version 2>&1); then
	die "$binary does not run ('$binary version' said: $version): is it a clusterd binary for this machine's architecture?"
fi

changed=no

# install_file SRC DEST MODE: copies SRC to a temporary file beside DEST and
# renames it over DEST (atomic: a reader sees the old file or the new one),
# only when the contents differ. Sets changed=yes when it replaced DEST.
install_file() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		return 0
	fi
	tmp="$2.install.$$"
	cp "$1" "$tmp"
	chmod "$3" "$tmp"
	mv -f "$tmp" "$2"
	changed=yes
	say "installed $2"
}
trap 'rm -f "$BIN.install.$$" "$UNIT_DIR/clusterd.service.install.$$" "$UNIT_DIR/clusterd.slice.install.$$" "$ENV_DIR/clusterd.env.new.$$"' EXIT

mkdir -p "$(dirname "$BIN")" "$UNIT_DIR"
install_file "$files/clusterd.service" "$UNIT_DIR/clusterd.service" 0644
install_file "$files/clusterd.slice" "$UNIT_DIR/clusterd.slice" 0644
units_changed=$changed
install_file "$binary" "$BIN" 0755

mkdir -p "$DATA_DIR"
chmod 0711 "$DATA_DIR"

# The env file: the template, then what the options say.
mkdir -p "$ENV_DIR"
new_env="$ENV_DIR/clusterd.env.new.$$"
{
	cat "$files/clusterd.env"
	case $mode in
	init) echo "CLUSTERD_COMMAND=init" ;;
	join) echo "CLUSTERD_COMMAND=agent" && echo "CLUSTERD_JOIN=$join" ;;
	*) echo "CLUSTERD_COMMAND=agent" ;;
	esac
	[ -z "$expect" ] || echo "CLUSTERD_BOOTSTRAP_EXPECT=$expect"
	[ -z "$token" ] || echo "CLUSTERD_JOIN_TOKEN=$token"
	printf '%s' "$extra"
} >"$new_env"
chmod 0600 "$new_env" # it may hold secrets (a join token)
if [ ! -f "$ENV_FILE" ]; then
	[ -n "$mode" ] || {
		rm -f "$new_env"
		usage_error "no $ENV_FILE yet: say what this machine does, --init (create the cluster) or --join ADDR (join one)"
	}
	mv -f "$new_env" "$ENV_FILE"
	changed=yes
	say "wrote $ENV_FILE"
elif [ -z "$mode$expect$extra" ] || cmp -s "$new_env" "$ENV_FILE"; then
	rm -f "$new_env"
else
	mv -f "$new_env" "$ENV_FILE.new"
	say "kept $ENV_FILE, which differs from what these options write (see $ENV_FILE.new);"
	say "edit $ENV_FILE and run 'systemctl restart clusterd' to change this node's flags"
fi

if ! systemd_running; then
	systemctl enable clusterd.service >/dev/null 2>&1 || die "systemctl enable clusterd.service failed"
	say "systemd is not running here: clusterd.service is enabled and starts at the next boot ($version)"
	exit 0
fi

# Reload only when a unit file changed: a daemon-reload also re-reads the
# transient units of running tasks, which this systemd may fail to parse
# (systemd 252 writes ExecStartEx= into them and then rejects it).
[ "$units_changed" = no ] || systemctl daemon-reload
if [ "$start" = no ]; then
	systemctl enable --no-reload clusterd.service
	say "clusterd.service is enabled, not started (--no-start): systemctl start clusterd"
	exit 0
fi
if systemctl is-active --quiet clusterd.service; then
	systemctl enable --no-reload clusterd.service
	if [ "$changed" = yes ]; then
		# Stops in place (CLUSTERD_LEAVE_ON_TERMINATE=false in the env file):
		# the node's tasks keep running and are re-adopted.
		systemctl restart clusterd.service
		say "restarted clusterd.service with $version"
	else
		say "clusterd.service is running and up to date ($version)"
	fi
else
	systemctl enable --no-reload --now clusterd.service
	say "started clusterd.service ($version); follow it with: journalctl -u clusterd -f"
fi

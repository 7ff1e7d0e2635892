#!/usr/bin/env bash
# A real Graphite (carbon-cache + graphite-web) as plain background processes,
# all state in one folder, listening on 127.0.0.1 only. No systemd.
#
#   scripts/graphite.sh install                       # Debian packages (idempotent)
#   scripts/graphite.sh start DIR [CARBON_PORT] [WEB_PORT]   # default 2003 8080
#   scripts/graphite.sh stop DIR
#   scripts/graphite.sh stop-carbon DIR | start-carbon DIR   # carbon-cache only
#   scripts/graphite.sh start-web DIR WEB_PORT        # graphite-web only (a cluster frontend)
#   scripts/graphite.sh status DIR
#
# start writes DIR/conf (carbon.conf, storage-schemas.conf, the graphite-web
# settings module), DIR/storage (whisper files, sqlite db), DIR/log, DIR/run
# (pid files), then prints "carbon 127.0.0.1:P" and "web http://127.0.0.1:P".
# Environment: CARBON_PICKLE_PORT, CARBON_QUERY_PORT (default: 2004/7002 with
# the default line port, else free ports), GRAPHITE_START_TIMEOUT (seconds,
# default 60), GRAPHITE_WATCH_PID (stop everything when that process exits;
# the Go test helper passes its own pid so a killed test leaves nothing behind),
# GRAPHITE_STEP (seconds between the agent's points, default 1: the finest
# archive of every new series, so graphs have no gaps between points).
# For a cluster (scripts/cluster.sh): GRAPHITE_CLUSTER_SERVERS (comma-separated
# graphite-web backends the web reads, CLUSTER_SERVERS), GRAPHITE_TAGS_URL
# (the graphite-web carbon registers tagged series with; default its own),
# GRAPHITE_WEB_BIND (more gunicorn --bind addresses, space-separated).
#
# Processes are found again only through the pid files start wrote (pid and
# the kernel's start time of that pid, so a recycled pid is never taken for
# ours), never by name: gunicorn renames itself ("gunicorn: master [...]")
# when python3-setproctitle is installed. Each process is started as the
# leader of its own session; stop ends the leader, then whatever is left of
# its process group (gunicorn's workers).
set -euo pipefail

PY=/usr/bin/python3 # Debian's, not a pyenv python3 found first on PATH
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/pidfile.sh
source "$HERE/pidfile.sh"
TEMPLATES="$HERE/graphite"
# python3-setproctitle: gunicorn renames its processes with it; stop must
# not depend on process names, and the tests run with it to prove that.
# carbon-c-relay and socat: the cluster of scripts/cluster.sh.
PACKAGES=(graphite-carbon graphite-web gunicorn python3-gunicorn python3-setproctitle fonts-dejavu-core
	carbon-c-relay socat)
SETTINGS_MODULE=nodemetrics_graphite_settings

die() { echo "graphite.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd_install() {
	local need=() p
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	if ((${#need[@]} == 0)) && [[ -x /usr/bin/carbon-cache && -x /usr/bin/gunicorn && -x /usr/bin/carbon-c-relay ]]; then
		return 0
	fi
	((${#need[@]})) || need=("${PACKAGES[@]}")
	echo "graphite.sh: installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# free_port [PREFERRED] prints PREFERRED if TCP and UDP are free there, else a
# free port from the kernel.
free_port() {
	"$PY" - "${1:-0}" <<'EOF'
import socket, sys
def free(port):
    socks = []
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', port))
            port = s.getsockname()[1]
        return port
    except OSError:
        return None
    finally:
        for s in socks:
            s.close()
want = int(sys.argv[1])
port = (want and free(want)) or None
while port is None:
    port = free(0)
print(port)
EOF
}

# render TEMPLATE OUT: replaces @DIR@ @CARBON_PORT@ @PICKLE_PORT@ @QUERY_PORT@ @WEB_PORT@
# @CLUSTER_SERVERS@ (a Python list) @TAGS_URL@ and @STEP@ @STEP10@ @STEP60@ (GRAPHITE_STEP seconds, times 10, times 60).
render() {
	"$PY" - "$1" "$2" <<EOF
import sys
servers = [s for s in '$CLUSTER_SERVERS'.split(',') if s]
subst = {'@DIR@': '''$DIR''', '@CLUSTER_SERVERS@': repr(servers), '@TAGS_URL@': '$TAGS_URL',
         '@CARBON_PORT@': '$CARBON_PORT', '@PICKLE_PORT@': '$PICKLE_PORT',
         '@QUERY_PORT@': '$QUERY_PORT', '@WEB_PORT@': '$WEB_PORT',
         '@STEP@': '$STEP', '@STEP10@': '$((STEP * 10))', '@STEP60@': '$((STEP * 60))'}
text = open(sys.argv[1]).read()
for k, v in subst.items():
    text = text.replace(k, v)
open(sys.argv[2], 'w').write(text)
EOF
}

set_dir() {
	[[ -n "${1:-}" ]] || usage
	mkdir -p "$1"
	DIR="$(cd "$1" && pwd)"
	[[ "$DIR" != *"'"* ]] || die "DIR must not contain a quote: $DIR"
}

load_ports() {
	[[ -f "$DIR/conf/ports.env" ]] || die "$DIR was never started (no conf/ports.env)"
	# shellcheck disable=SC1091
	source "$DIR/conf/ports.env"
}

web_env() {
	export PYTHONPATH="$DIR/conf" GRAPHITE_SETTINGS_MODULE="$SETTINGS_MODULE" \
		DJANGO_SETTINGS_MODULE=graphite.settings PYTHONDONTWRITEBYTECODE=1
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() {
	"$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2).read()' "$1" 2>/dev/null
}

# wait_until NAME LOG CHECK...: polls CHECK until it succeeds, NAME dies, or the deadline.
wait_until() {
	local name="$1" log="$2" deadline=$((SECONDS + ${GRAPHITE_START_TIMEOUT:-60}))
	shift 2
	until "$@"; do
		if ! alive "$name"; then
			echo "graphite.sh: $name exited during start-up; last lines of $log and its own logs:" >&2
			tail -n 30 "$log" "$DIR"/log/carbon/*.log >&2 2>/dev/null || true
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "graphite.sh: $name not ready after ${GRAPHITE_START_TIMEOUT:-60}s; last lines of $log:" >&2
			tail -n 30 "$log" >&2 || true
			return 1
		fi
		sleep 0.05
	done
}

start_carbon() {
	alive carbon && die "carbon-cache already running (pid $(<"$DIR/run/carbon.pid"))"
	rm -f "$DIR/run/carbon-cache-a.pid"
	local log="$DIR/log/carbon-cache.out"
	PYTHONWARNINGS=ignore setsid "$PY" /usr/bin/carbon-cache --config "$DIR/conf/carbon.conf" \
		--pidfile "$DIR/run/carbon-cache-a.pid" --nodaemon start \
		</dev/null >>"$log" 2>&1 &
	write_pid carbon $!
	wait_until carbon "$log" tcp_open "$CARBON_PORT"
}

start_web() {
	alive web && die "graphite-web already running (pid $(<"$DIR/run/web.pid"))"
	local log="$DIR/log/gunicorn.out"
	local binds=(--bind "127.0.0.1:$WEB_PORT") b
	for b in ${WEB_BIND:-}; do binds+=(--bind "$b"); done
	web_env
	setsid /usr/bin/gunicorn "${binds[@]}" --workers 2 --threads 4 \
		--worker-class gthread --timeout 120 --graceful-timeout 3 \
		--pythonpath "$DIR/conf" --pid "$DIR/run/gunicorn.pid" \
		--access-logfile "$DIR/log/webapp/access.log" --error-logfile - \
		graphite.wsgi:application </dev/null >>"$log" 2>&1 &
	write_pid web $!
	wait_until web "$log" http_ok "http://127.0.0.1:$WEB_PORT/version"
}

# cmd_start DIR [CARBON_PORT [WEB_PORT]]; with_carbon=0 (start-web) starts
# graphite-web only.
cmd_start() {
	local with_carbon="${with_carbon:-1}"
	set_dir "${1:-}"
	CARBON_PORT="${2:-2003}"
	WEB_PORT="${3:-8080}"
	STEP="${GRAPHITE_STEP:-1}"
	[[ "$STEP" =~ ^[1-9][0-9]*$ ]] || die "GRAPHITE_STEP must be whole seconds, not '$STEP'"
	[[ -x /usr/bin/carbon-cache && -x /usr/bin/gunicorn ]] || die "not installed; run: $0 install"
	cmd_stop "$DIR" # re-runnable: (re)start
	CLUSTER_SERVERS="${GRAPHITE_CLUSTER_SERVERS:-}"
	TAGS_URL="${GRAPHITE_TAGS_URL:-http://127.0.0.1:$WEB_PORT}"
	WEB_BIND="${GRAPHITE_WEB_BIND:-}"
	[[ "$CLUSTER_SERVERS$TAGS_URL$WEB_BIND" != *[\'\"\\]* ]] || die "quotes or backslashes in GRAPHITE_CLUSTER_SERVERS, GRAPHITE_TAGS_URL or GRAPHITE_WEB_BIND"
	local default_pickle=0 default_query=0
	if [[ "$CARBON_PORT" == 2003 ]]; then default_pickle=2004 default_query=7002; fi
	PICKLE_PORT="${CARBON_PICKLE_PORT:-$(free_port "$default_pickle")}"
	QUERY_PORT="${CARBON_QUERY_PORT:-$(free_port "$default_query")}"
	if [[ $with_carbon == 1 ]] && tcp_open "$CARBON_PORT"; then die "port $CARBON_PORT is already in use"; fi
	tcp_open "$WEB_PORT" && die "port $WEB_PORT is already in use"

	mkdir -p "$DIR"/{conf,run,log/carbon,log/webapp,storage/whisper,storage/lists}
	render "$TEMPLATES/carbon.conf.in" "$DIR/conf/carbon.conf"
	render "$TEMPLATES/storage-schemas.conf.in" "$DIR/conf/storage-schemas.conf"
	cp "$TEMPLATES/storage-aggregation.conf" "$DIR/conf/"
	render "$TEMPLATES/graphite_settings.py.in" "$DIR/conf/$SETTINGS_MODULE.py"
	printf 'CARBON_PORT=%s\nPICKLE_PORT=%s\nQUERY_PORT=%s\nWEB_PORT=%s\nWEB_BIND=%q\n' \
		"$CARBON_PORT" "$PICKLE_PORT" "$QUERY_PORT" "$WEB_PORT" "$WEB_BIND" >"$DIR/conf/ports.env"

	if [[ ! -f "$DIR/storage/.migrated" ]]; then
		(web_env && "$PY" -m django migrate --noinput --run-syncdb) >"$DIR/log/migrate.out" 2>&1 ||
			{ cat "$DIR/log/migrate.out" >&2; die "django migrate failed"; }
		touch "$DIR/storage/.migrated"
	fi

	# graphite-web first: carbon registers tagged series through it.
	start_web || { cmd_stop "$DIR"; die "graphite-web failed to start"; }
	if [[ $with_carbon == 1 ]]; then
		start_carbon || { cmd_stop "$DIR"; die "carbon-cache failed to start"; }
	fi
	if [[ -n "${GRAPHITE_WATCH_PID:-}" ]]; then start_watch "$GRAPHITE_WATCH_PID" "$HERE/graphite.sh"; fi
	if [[ $with_carbon == 1 ]]; then echo "carbon 127.0.0.1:$CARBON_PORT"; fi
	echo "web http://127.0.0.1:$WEB_PORT"
}

cmd_stop() {
	set_dir "${1:-}"
	[[ -d "$DIR/run" ]] || return 0
	# In parallel: each takes about 2 s. Wait for that one job only: in
	# start's clean-up this shell's children include the servers.
	local job
	stop_one carbon 30 & # flushes its cache to whisper on SIGTERM
	job=$!
	stop_one web 10 QUIT # gunicorn's quick shutdown
	wait "$job" || true
	if [[ -z "${NM_FROM_WATCH:-}" ]]; then stop_one watch 5; fi
}

cmd_stop_carbon() {
	set_dir "${1:-}"
	stop_one carbon 30
}

cmd_start_carbon() {
	set_dir "${1:-}"
	load_ports
	start_carbon || die "carbon-cache failed to start"
	echo "carbon 127.0.0.1:$CARBON_PORT"
}

cmd_start_web() {
	[[ "${2:-}" =~ ^[0-9]+$ ]] || usage
	with_carbon=0 cmd_start "$1" 0 "$2"
}

cmd_status() {
	set_dir "${1:-}"
	local n rc=0
	for n in carbon web watch; do
		if alive "$n"; then echo "$n running (pid $(<"$DIR/run/$n.pid"))"; else echo "$n stopped"; [[ $n == watch ]] || rc=1; fi
	done
	return $rc
}

case "${1:-}" in
install) cmd_install ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
stop-carbon) shift; cmd_stop_carbon "$@" ;;
start-carbon) shift; cmd_start_carbon "$@" ;;
start-web) shift; cmd_start_web "$@" ;;
status) shift; cmd_status "$@" ;;
*) usage ;;
esac

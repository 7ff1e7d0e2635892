#!/usr/bin/env bash
# A Graphite cluster on one machine, in network namespaces of its own, all
# state in one folder: the shape of a fleet past one Carbon.
#
#   scripts/cluster.sh start DIR [WEB_PORT]     # WEB_PORT on 127.0.0.1, default 8080
#   scripts/cluster.sh run DIR BIN INTERVAL [AGENT_ARGS...]  # start + three agents; Ctrl-C stops all
#   scripts/cluster.sh stop DIR
#   scripts/cluster.sh stop-relay DIR N [TERM|KILL] | start-relay DIR N    # N = 1 or 2
#   scripts/cluster.sh stop-cache DIR N | start-cache DIR N    # N = 1 or 2
#   scripts/cluster.sh status DIR
#
# The cluster lives in a "hub" network namespace: two carbon-c-relays
# (10.20.0.1:2003 and :2013, the same rules: a fnv1a_ch cluster of the two
# caches), two carbon-caches (each with its own small graphite-web backend,
# the caches' "CLUSTER_SERVERS"), and one graphite-web frontend that reads
# both backends and holds the tag database and the events (10.20.0.1:8080).
# Three node namespaces (node1..node3: 10.20.0.11..13) are joined to the hub
# by veth pairs on a bridge, so what an agent sends there crosses a veth to
# the relay. No address is ever added outside these namespaces. The frontend
# is reached from this machine through a unix socket, forwarded by socat to
# 127.0.0.1:WEB_PORT (a browser, Grafana, the tests).
#
# start prints "relay1 10.20.0.1:2003", "relay2 ...", "events http://10.20.0.1:8080",
# "web http://127.0.0.1:WEB_PORT" and "node1 NETNS" .. "node3 NETNS".
# Run a command on node N: nsenter --net=/run/netns/NETNS CMD (DIR/conf/cluster.env).
# Environment: CLUSTER_WATCH_PID (stop everything when that process exits),
# RELAY_QUEUE (each relay's queue per cache, in metrics; carbon-c-relay's
# default 25000), GRAPHITE_STEP (as scripts/graphite.sh).
#
# Every process is found again only through the pid files written in DIR/run
# (scripts/pidfile.sh), never by name; stop removes the namespaces it made.
set -euo pipefail

PY=/usr/bin/python3
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/pidfile.sh
source "$HERE/pidfile.sh"

HUB_IP=10.20.0.1
NODES=3
RELAY_PORTS=(2003 2013)
# Per cache: line, pickle, query (carbonlink) and backend web ports, inside
# the hub namespace (a namespace of our own: all its ports are free).
CACHE_PORTS=("2103 2104 7102 8101" "2203 2204 7202 8201")
FRONT_PORT=8080

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

set_dir() {
	[[ -n "${1:-}" ]] || usage
	mkdir -p "$1"
	DIR="$(cd "$1" && pwd)"
}

load_env() {
	[[ -f "$DIR/conf/cluster.env" ]] || die "$DIR was never started (no conf/cluster.env)"
	# shellcheck disable=SC1091
	source "$DIR/conf/cluster.env"
}

# in_hub CMD...: CMD in the hub's network namespace (same mounts, same pids).
in_hub() { nsenter --net="/run/netns/$HUB" "$@"; }

tcp_open_hub() { in_hub bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

wait_tcp() { # NAME HOST PORT
	local deadline=$((SECONDS + 30))
	until tcp_open_hub "$2" "$3"; do
		alive "$1" || { tail -n 20 "$DIR/log/$1.out" >&2 || true; die "$1 exited during start-up"; }
		((SECONDS < deadline)) || die "$1 not listening on $2:$3 after 30s"
		sleep 0.05
	done
}

make_netns() {
	local id i
	id="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	HUB="nmc-$id-hub"
	NODE_NS=()
	for ((i = 1; i <= NODES; i++)); do NODE_NS+=("nmc-$id-node$i"); done
	# Recorded before anything is made, so stop removes what a failed start left.
	{
		echo "HUB=$HUB"
		echo "NODE_NS=(${NODE_NS[*]})"
	} >"$DIR/conf/cluster.env"
	ip netns add "$HUB"
	ip -n "$HUB" link set lo up
	ip -n "$HUB" link add br0 type bridge
	ip -n "$HUB" addr add "$HUB_IP/24" dev br0
	ip -n "$HUB" link set br0 up
	for ((i = 1; i <= NODES; i++)); do
		local ns="${NODE_NS[i - 1]}"
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# Made inside the node, its peer straight into the hub: no
		# interface of ours ever appears in this machine's namespace.
		ip -n "$ns" link add eth0 type veth peer name "node$i" netns "$HUB"
		ip -n "$ns" addr add "10.20.0.$((10 + i))/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$HUB" link set "node$i" master br0 up
	done
}

write_relay_conf() {
	local c1 c2
	read -r c1 _ <<<"${CACHE_PORTS[0]}"
	read -r c2 _ <<<"${CACHE_PORTS[1]}"
	local n
	for n in 1 2; do
		cat >"$DIR/conf/relay$n.conf" <<EOF
# carbon-c-relay $n (scripts/cluster.sh): both relays hash the same way, so
# a series lands on the same cache whichever relay an agent sends it to.
listen type linemode $HUB_IP:${RELAY_PORTS[n - 1]} proto tcp ;
cluster caches fnv1a_ch
    127.0.0.1:$c1=a
    127.0.0.1:$c2=b
    ;
match * send to caches stop ;
# Its own counters every second (carbon.relays.relay$n.*: per destination
# sent, queued, dropped, stalls), routed like any metric.
statistics submit every 1 seconds ;
EOF
	done
}

start_relay() {
	local n="$1" log="$DIR/log/relay$1.out"
	alive "relay$n" && die "relay$n already running"
	# -H: the relay's own statistics as carbon.relays.relayN.*; -c: the
	# characters the agent's path nodes use besides [A-Za-z0-9] (default -_:#,
	# anything else the relay turns into _).
	# nsenter and setsid exec: $! is the relay's own pid (a shell function
	# put in the background would be a subshell between us and it).
	nsenter --net="/run/netns/$HUB" setsid carbon-c-relay -f "$DIR/conf/relay$n.conf" -H "relay$n" \
		-q "${RELAY_QUEUE:-25000}" -c '-_:#+@%' </dev/null >>"$log" 2>&1 &
	write_pid "relay$n" $!
	wait_tcp "relay$n" "$HUB_IP" "${RELAY_PORTS[n - 1]}"
}

# graphite N ARGS...: scripts/graphite.sh in the hub namespace.
graphite() { in_hub env GRAPHITE_START_TIMEOUT=90 "$HERE/graphite.sh" "$@"; }

# start_cache N: carbon-cache N and its graphite-web backend (storage kept
# from an earlier run).
start_cache() {
	local n="$1" line pickle query web
	read -r line pickle query web <<<"${CACHE_PORTS[n - 1]}"
	CARBON_PICKLE_PORT=$pickle CARBON_QUERY_PORT=$query GRAPHITE_TAGS_URL="http://127.0.0.1:$FRONT_PORT" \
		graphite start "$DIR/cache$n" "$line" "$web" >/dev/null
}

start_socat() {
	local port="$1" log="$DIR/log/socat.out"
	# In this machine's namespace, on loopback only.
	setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$DIR/run/web.sock" \
		</dev/null >>"$log" 2>&1 &
	write_pid socat $!
	local deadline=$((SECONDS + 10))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		alive socat || { tail -n 5 "$log" >&2; die "socat exited (port $port in use?)"; }
		((SECONDS < deadline)) || die "socat not listening on 127.0.0.1:$port"
		sleep 0.05
	done
}

cmd_start() {
	set_dir "${1:-}"
	local web_port="${2:-8080}"
	command -v carbon-c-relay >/dev/null && command -v socat >/dev/null ||
		die "carbon-c-relay or socat missing; run: scripts/graphite.sh install"
	cmd_stop "$DIR"
	mkdir -p "$DIR"/{conf,run,log}
	(exec 3<>"/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && die "port $web_port is already in use"
	if [[ -n "${CLUSTER_WATCH_PID:-}" ]]; then start_watch "$CLUSTER_WATCH_PID" "$HERE/cluster.sh"; fi
	make_netns
	write_relay_conf

	local backends=() n web
	for n in 1 2; do
		read -r _ _ _ web <<<"${CACHE_PORTS[n - 1]}"
		backends+=("127.0.0.1:$web?noTags=1")
	done
	# The frontend first: the caches register their tagged series with it.
	rm -f "$DIR/run/web.sock"
	GRAPHITE_CLUSTER_SERVERS="$(IFS=,; echo "${backends[*]}")" \
		GRAPHITE_WEB_BIND="$HUB_IP:$FRONT_PORT unix:$DIR/run/web.sock" \
		graphite start-web "$DIR/frontend" "$FRONT_PORT" >/dev/null
	start_cache 1 &
	local job=$!
	start_cache 2
	wait "$job"
	start_relay 1
	start_relay 2
	start_socat "$web_port"
	echo "WEB_PORT=$web_port" >>"$DIR/conf/cluster.env"

	echo "relay1 $HUB_IP:${RELAY_PORTS[0]}"
	echo "relay2 $HUB_IP:${RELAY_PORTS[1]}"
	echo "events http://$HUB_IP:$FRONT_PORT"
	echo "web http://127.0.0.1:$web_port"
	for ((n = 1; n <= NODES; n++)); do echo "node$n ${NODE_NS[n - 1]}"; done
}

cmd_stop() {
	set_dir "${1:-}"
	[[ -d "$DIR/run" ]] || return 0
	local f name jobs=()
	# Agents first (they flush to the relays), then relays (they flush to
	# the caches), then the caches and webs, then the namespaces. Each step
	# in parallel; wait for those jobs only (in run, this shell has others).
	for f in "$DIR"/run/agent*.pid; do
		[[ -e $f ]] || continue
		name="${f##*/}"
		stop_one "${name%.pid}" 20 &
		jobs+=($!)
	done
	((${#jobs[@]} == 0)) || wait "${jobs[@]}"
	jobs=()
	for name in relay1 relay2 socat; do
		stop_one "$name" 10 &
		jobs+=($!)
	done
	wait "${jobs[@]}"
	jobs=()
	for name in cache1 cache2 frontend; do
		[[ -d "$DIR/$name/run" ]] || continue
		"$HERE/graphite.sh" stop "$DIR/$name" &
		jobs+=($!)
	done
	((${#jobs[@]} == 0)) || wait "${jobs[@]}" || true
	if [[ -f "$DIR/conf/cluster.env" ]]; then
		local HUB="" NODE_NS=() ns
		# shellcheck disable=SC1091
		source "$DIR/conf/cluster.env"
		for ns in "${NODE_NS[@]}" "$HUB"; do
			[[ -n $ns && -e /run/netns/$ns ]] && ip netns del "$ns"
		done
		rm -f "$DIR/conf/cluster.env"
	fi
	if [[ -z "${NM_FROM_WATCH:-}" ]]; then stop_one watch 5; fi
}

cmd_run() {
	set_dir "${1:-}"
	(($# >= 3)) || usage
	local bin="$2" interval="$3"
	shift 3
	[[ -x $bin ]] || die "agent binary $bin not found (make build)"
	trap 'trap - INT TERM EXIT; cmd_stop "$DIR"; echo "stopped; state kept in $DIR"' INT TERM EXIT
	cmd_start "$DIR" "${WEB_PORT:-8080}"
	load_env
	local n
	for ((n = 1; n <= NODES; n++)); do
		mkdir -p "$DIR/agents/node$n"
		nsenter --net="/run/netns/${NODE_NS[n - 1]}" setsid "$bin" \
			--graphite "$HUB_IP:${RELAY_PORTS[0]}" --interval "$interval" --hostname "node$n" \
			--tags --events-url "http://$HUB_IP:$FRONT_PORT" --spool-dir "$DIR/agents/node$n/spool" \
			"$@" </dev/null >>"$DIR/log/agent$n.out" 2>&1 &
		write_pid "agent$n" $!
	done
	local web="http://127.0.0.1:$WEB_PORT"
	cat <<MSG

Three agents (node1..node3, each in its own network namespace) send every
$interval to the relay at $HUB_IP:${RELAY_PORTS[0]}; it hashes each series onto one of two
carbon-caches; one graphite-web reads both. Logs and state: $DIR
  $web/render?target=servers.*.loadavg.01&from=-10min             (one path per host)
  $web/render?target=aliasByNode(servers.*.cpu.total.idle,1)&from=-10min
  $web/render?target=seriesByTag('name=container.cpu.total')&from=-10min (tagged, all hosts)
  $web/metrics/find?query=servers.*
  $web/events/get_data?from=-1h
Stop a cache or a relay for a while: scripts/cluster.sh stop-cache $DIR 1 (start-cache ...).
Ctrl-C stops the agents, the relays, the caches and the webs.
MSG
	# Sleep in the background so the trap runs at once on Ctrl-C.
	while :; do sleep 3600 & wait $! || true; done
}

cmd_status() {
	set_dir "${1:-}"
	local n rc=0
	for n in relay1 relay2 socat agent1 agent2 agent3; do
		if alive "$n"; then echo "$n running (pid $(<"$DIR/run/$n.pid"))"; else echo "$n stopped"; fi
	done
	for n in cache1 cache2 frontend; do
		echo "$n:"
		"$HERE/graphite.sh" status "$DIR/$n" | sed 's/^/  /' || rc=1
	done
	return $rc
}

num() { [[ "${1:-}" =~ ^[12]$ ]] || die "N must be 1 or 2, not '${1:-}'"; }

case "${1:-}" in
start) shift; cmd_start "$@" ;;
run) shift; cmd_run "$@" ;;
stop) shift; cmd_stop "$@" ;;
stop-relay)
	set_dir "${2:-}"
	num "${3:-}"
	[[ "${4:-TERM}" =~ ^(TERM|KILL)$ ]] || die "SIGNAL must be TERM or KILL"
	stop_one "relay$3" 10 "${4:-TERM}"
	;;
start-relay) set_dir "${2:-}"; num "${3:-}"; load_env; start_relay "$3" ;;
stop-cache) set_dir "${2:-}"; num "${3:-}"; "$HERE/graphite.sh" stop-carbon "$DIR/cache$3" ;;
start-cache) set_dir "${2:-}"; num "${3:-}"; load_env; graphite start-carbon "$DIR/cache$3" >/dev/null ;;
status) shift; cmd_status "$@" ;;
*) usage ;;
esac

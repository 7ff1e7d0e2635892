#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make run: a real carbon-cache + graphite-web on 127.0.0.1 and the agent
# sending to it every INTERVAL; all state (Graphite's files, the machine
# directory of the image, pid files, logs) in RUNDIR. Ctrl-C (SIGINT) or
# SIGTERM stops all of it; a run killed without its clean-up is stopped by
# the next one through the pid files it left.
#
#   scripts/run.sh RUNDIR [INTERVAL]      INTERVAL: N, Ns or Nm (default 5s)
#   Environment: CARBON_PORT (default 2003), WEB_PORT (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
rundir=${1:?usage: run.sh RUNDIR [INTERVAL]}
interval=${2:-5s}
carbon_port=${CARBON_PORT:-2003}
web_port=${WEB_PORT:-8080}
die() { echo "run.sh: $*" >&2; exit 2; }

# Graphite's finest archive must be the agent's interval (else dotted graphs).
case $interval in
*m) step=${interval%m} && [[ $step =~ ^[1-9][0-9]*$ ]] && step=$((step * 60)) ;;
*s) step=${interval%s} ;;
*) step=$interval ;;
esac
[[ $step =~ ^[1-9][0-9]*$ ]] || die "INTERVAL must be whole seconds (N or Ns) or minutes (Nm), not '$interval'"
for p in "$carbon_port" "$web_port"; do
	[[ $p =~ ^[1-9][0-9]*$ ]] && ((p < 65536)) || die "CARBON_PORT and WEB_PORT must be TCP ports, not '$p'"
done
mkdir -p "$rundir"
rundir=$(cd "$rundir" && pwd)
# One run per RUNDIR: a second would stop the first one's Graphite. fd 9
# holds the lock for this script only (closed for every child: 9>&-), so a
# run killed with SIGKILL leaves it free for the next, which stops the
# killed run's leftovers by their pid files.
exec 9>"$rundir/run.lock"
flock -n 9 || die "make run is already running with $rundir; stop it first (Ctrl-C)"
[[ -x bin/collector && -f image/build/nodemetrics.tar.gz ]] || die "run 'make build image' first (make run does)"

# start_time PID: the kernel's start time of PID (tells it from a later
# process with the same pid).
start_time() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	# shellcheck disable=SC2086 # split the fields after "pid (comm) "
	set -- ${stat##*) }
	[[ -n ${20:-} ]] && echo "${20}"
}

# descendants PID: every process below PID, deepest first.
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		descendants "$c"
		echo "$c"
	done
}

# stop_agent: the agent this script (or an earlier run) started, by the pid
# file written when it started: SIGTERM (it flushes to Carbon and exits 0;
# under nspawn, nspawn passes the signal on), 15 s, then SIGKILL to it and
# everything below it.
stop_agent() {
	local f="$rundir/agent.pid" pid st i kids
	[[ -f $f ]] || return 0
	read -r pid st <"$f" || true
	if [[ $pid =~ ^[0-9]+$ && $(start_time "$pid" 2>/dev/null) == "$st" ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 150; i++)); do
			# A child that exited stays a zombie until waited for.
			[[ $(start_time "$pid" 2>/dev/null) == "$st" && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || break
			sleep 0.1
		done
		if [[ $(start_time "$pid" 2>/dev/null) == "$st" && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
			echo "run.sh: the agent ($pid) did not stop in 15 s, killing it" >&2
			kids=$(descendants "$pid")
			kill -KILL $kids "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

agent_pid=
cleanup() {
	trap - INT TERM EXIT
	stop_agent
	if [[ -n $agent_pid ]]; then wait "$agent_pid" 2>/dev/null || true; fi
	scripts/graphite.sh stop "$rundir/graphite" 9>&- || true
	echo "stopped; state kept in $rundir"
}

stop_agent # left by a run that was killed without its clean-up
trap cleanup INT TERM EXIT
GRAPHITE_STEP=$step scripts/graphite.sh start "$rundir/graphite" "$carbon_port" "$web_port" 9>&-

host=$(hostname -s 2>/dev/null || hostname)
host=${host//./_}
web="http://127.0.0.1:$web_port"
# The real deployment shape: the image under systemd-nspawn through the
# wrapper (host network, pid and UTS namespaces, read-only host binds), the
# hostname learnt inside, the machine directory in RUNDIR. Where nspawn
# cannot run, the binary directly.
if nspawn/nspawn-container --check 9>&-; then
	echo "running the image under systemd-nspawn (machine nodemetrics-run in $rundir/machines)"
	# On a host whose /run is not a tmpfs, nspawn warns on exit that it will
	# not remove its (empty) propagation directory there: not our concern.
	NSPAWN_MACHINES_DIR="$rundir/machines" nspawn/nspawn-container --name nodemetrics-run \
		image/build/nodemetrics.tar.gz -- \
		--graphite "127.0.0.1:$carbon_port" --interval "$interval" --tags --events-url "$web" \
		9>&- 2> >(grep -v --line-buffered 'Attempted to remove disk file system' >&2 9>&-) &
else
	echo "systemd-nspawn cannot run here (see above): running bin/collector directly"
	bin/collector --graphite "127.0.0.1:$carbon_port" --interval "$interval" --hostname "$host" \
		--tags --events-url "$web" 9>&- &
fi
agent_pid=$!
echo "$agent_pid $(start_time "$agent_pid" || echo 0)" >"$rundir/agent.pid"

cat <<MSG

The agent sends every $interval to carbon on 127.0.0.1:$carbon_port. Open (rates appear from the second cycle):
  $web/render?target=servers.$host.cpu.total.*&from=-10min
  $web/render?target=servers.$host.loadavg.01&target=servers.$host.loadavg.05&from=-10min
  $web/render?target=servers.$host.memory.{MemTotal,MemAvailable,Cached}&from=-10min
  $web/render?target=servers.$host.network.*.rx_byte&from=-10min
  $web/render?target=servers.$host.diskspace.*.byte_percentfree&from=-10min
  $web/render?target=servers.$host.agent.collectors.*.duration_seconds&from=-10min
  $web/render?target=servers.$host.containers.*.cpu.total&from=-10min          (containers, by name)
  $web/render?target=seriesByTag('name=container.memory.usage_byte')&from=-10min (tagged)
  $web/events/get_data?from=-1h&tags=container                                (container start/die/oom)
  $web/render?target=servers.$host.memory.MemTotal&format=json&from=-10min   (JSON)
  $web/metrics/find?query=servers.$host.*                                     (the tree)
Ctrl-C stops the agent and Graphite.
MSG
# Returns when the agent exits, or at once on a signal (the trap runs).
wait "$agent_pid" || true

#!/usr/bin/env bash
# make run: a real carbon-cache + graphite-web on 127.0.0.1 with all state in
# RUNDIR, and the agent sending to it every INTERVAL. Ctrl-C stops all of it.
#   scripts/run.sh RUNDIR [INTERVAL]
set -euo pipefail
cd "$(dirname "$0")/.."
rundir=${1:?usage: run.sh RUNDIR [INTERVAL]}
interval=${2:-5s}
carbon_port=${CARBON_PORT:-2003}
web_port=${WEB_PORT:-8080}
mkdir -p "$rundir"

scripts/graphite.sh start "$rundir/graphite" "$carbon_port" "$web_port"
agent_pid=
cleanup() {
	trap - INT TERM EXIT
	[[ -n $agent_pid ]] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
	scripts/graphite.sh stop "$rundir/graphite" || true
	echo "stopped; state kept in $rundir"
}
trap cleanup INT TERM EXIT

host=$(hostname -s 2>/dev/null || hostname)
host=${host//./_}
web="http://127.0.0.1:$web_port"
# The real deployment shape: the image under systemd-nspawn through the
# wrapper (host network, pid and UTS namespaces, read-only host binds), the
# hostname learnt inside. Where nspawn cannot run, the binary directly.
if nspawn/nspawn-container --check; then
	echo "running the image under systemd-nspawn (machine nodemetrics-run)"
	nspawn/nspawn-container --name nodemetrics-run image/build/nodemetrics.tar.gz -- \
		--graphite "127.0.0.1:$carbon_port" --interval "$interval" --tags --events-url "$web" &
else
	echo "systemd-nspawn cannot run here (see above): running bin/collector directly"
	bin/collector --graphite "127.0.0.1:$carbon_port" --interval "$interval" --hostname "$host" \
		--tags --events-url "$web" &
fi
agent_pid=$!

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
wait "$agent_pid"

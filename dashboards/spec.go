// SPDX-License-Identifier: Apache-2.0

package dashboards

// The dashboards. Every target is scoped: by $host ($prefix.$host.…), by a
// tag filter (seriesByTag with the image and label variables), or, in the
// cluster rows, one literal path per host ($prefix.*.<fixed path>).
//
// $prefix is the agent's --prefix and may have several nodes, so
// aliasByNode counts from the end of the path (-1 is the last node).

const h = "$prefix.$host."

// busy are the CPU modes that add up to the total (guest time is already
// counted in user and nice).
const cpuModes = "{user,nice,system,iowait,irq,softirq,steal}"
const cpuAll = "{user,nice,system,idle,iowait,irq,softirq,steal}"

// prefixVar is the agent's --prefix; a textbox, so a prefix of several
// nodes (prod.eu) works too.
var prefixVar = Var{Name: "prefix", Label: "prefix", Type: "textbox", Query: "servers",
	Description: "the agent's --prefix: the path nodes before the host"}

var hostVar = Var{Name: "host", Label: "host", Type: "query", Query: "$prefix.*",
	Description: "the node below the prefix"}

// All returns the dashboards.
func All() []Dashboard { return []Dashboard{host(), containers(), agent()} }

func host() Dashboard {
	return Dashboard{
		File: "host.json", UID: "nodemetrics-host", Title: "nodemetrics / Host",
		Tags: []string{"nodemetrics", "graphite"},
		Vars: []Var{prefixVar, hostVar},
		Rows: []Row{
			{Title: "CPU and load", Panels: []Panel{
				{Title: "CPU by mode", Unit: "percent", Stack: true, Min: f(0), Max: f(100),
					Description: "Share of all CPUs' time in each mode (idle left out), stacked: the top edge is total busy %.",
					Targets:     []string{"aliasByNode(asPercent(" + h + "cpu.total." + cpuModes + ", sumSeries(" + h + "cpu.total." + cpuAll + ")), -1)"}},
				{Title: "Load average", Unit: "short", Min: f(0),
					Description: "Run-queue length averaged over 1, 5 and 15 minutes.",
					Targets:     []string{"aliasByNode(" + h + "loadavg.{01,05,15}, -1)"}},
				{Title: "Load average per CPU", Unit: "short", Min: f(0),
					Description: "Load divided by the number of online CPUs: above 1 the run queue is longer than the CPUs can serve.",
					Targets:     []string{"aliasByNode(" + h + "loadavg.{01,05,15}_normalized, -1)"}},
				{Title: "Processes and context switches", Unit: "short", Min: f(0),
					Description: "Running and blocked processes (left); forks and context switches per second.",
					Targets: []string{
						"aliasByNode(" + h + "proc.{procs_running,procs_blocked}, -1)",
						"alias(" + h + "proc.processes, 'forks/s')",
						"alias(scale(" + h + "proc.ctxt, 0.001), 'context switches/s (thousands)')",
					}},
			}},
			{Title: "Memory", Panels: []Panel{
				{Title: "Memory", Unit: "bytes", Min: f(0),
					Description: "used = MemTotal - MemAvailable; cached and buffers are reclaimable page cache.",
					Targets: []string{
						"alias(diffSeries(" + h + "memory.MemTotal, " + h + "memory.MemAvailable), 'used')",
						"aliasByNode(" + h + "memory.{Cached,Buffers,MemAvailable}, -1)",
						"alias(" + h + "memory.MemTotal, 'total')",
					}},
				{Title: "Swap and dirty pages", Unit: "bytes", Min: f(0),
					Targets: []string{
						"alias(diffSeries(" + h + "memory.SwapTotal, " + h + "memory.SwapFree), 'swap used')",
						"aliasByNode(" + h + "memory.{Dirty,Shmem}, -1)",
					}},
				{Title: "Paging", Unit: "short", Min: f(0),
					Description: "Major faults and pages swapped in and out, per second.",
					Targets:     []string{"aliasByNode(" + h + "vmstat.{pgmajfault,pswpin,pswpout}, -1)"}},
				{Title: "Memory used %", Unit: "percent", Min: f(0), Max: f(100),
					Targets: []string{"alias(" + h + "memory.MemUsedPercentage, 'used %')"}},
			}},
			{Title: "Disk space", Panels: []Panel{
				{Title: "Free space per mount", Unit: "percent", Min: f(0), Max: f(100),
					Targets: []string{"aliasByNode(" + h + "diskspace.*.byte_percentfree, -2)"}},
				{Title: "Used space per mount", Unit: "bytes", Min: f(0),
					Targets: []string{"aliasByNode(" + h + "diskspace.*.byte_used, -2)"}},
				{Title: "Free inodes per mount", Unit: "percent", Min: f(0), Max: f(100),
					Targets: []string{"aliasByNode(" + h + "diskspace.*.inodes_percentfree, -2)"}},
				{Title: "Available space per mount", Unit: "bytes", Min: f(0),
					Description: "Space an unprivileged user can still write.",
					Targets:     []string{"aliasByNode(" + h + "diskspace.*.byte_avail, -2)"}},
			}},
			{Title: "Disk IO", Panels: []Panel{
				{Title: "IOPS per device", Unit: "iops", Min: f(0),
					Targets: []string{"aliasByNode(" + h + "iostat.*.{reads_per_second,writes_per_second}, -2, -1)"}},
				{Title: "Throughput per device", Unit: "binBps", Min: f(0), NegativeY: ".*write.*",
					Description: "Reads above the axis, writes below.",
					Targets:     []string{"aliasByNode(" + h + "iostat.*.{read_byte_per_second,write_byte_per_second}, -2, -1)"}},
				{Title: "Await per device", Unit: "ms", Min: f(0),
					Description: "Average time a request waited and was served, in milliseconds.",
					Targets:     []string{"aliasByNode(" + h + "iostat.*.{read_await,write_await}, -2, -1)"}},
				{Title: "Utilisation per device", Unit: "percent", Min: f(0), Max: f(100),
					Description: "Share of time the device had requests in flight.",
					Targets:     []string{"aliasByNode(" + h + "iostat.*.util_percentage, -2)"}},
			}},
			{Title: "Network", Panels: []Panel{
				{Title: "Traffic per interface", Unit: "bps", NegativeY: ".*tx_bit.*",
					Description: "Bits per second; received above the axis, sent below.",
					Targets:     []string{"aliasByNode(" + h + "network.*.{rx_bit,tx_bit}, -2, -1)"}},
				{Title: "Packets per interface", Unit: "pps", NegativeY: ".*tx_.*",
					Targets: []string{"aliasByNode(" + h + "network.*.{rx_packets,tx_packets}, -2, -1)"}},
				{Title: "Errors and drops per interface", Unit: "pps", Min: f(0),
					Targets: []string{"aliasByNode(" + h + "network.*.{rx_errors,tx_errors,rx_drop,tx_drop}, -2, -1)"}},
				{Title: "TCP retransmits and timeouts", Unit: "cps", Min: f(0),
					Targets: []string{"aliasByNode(" + h + "tcp.{TCPFastRetrans,TCPSlowStartRetrans,TCPLostRetransmit,TCPTimeouts}, -1)"}},
				{Title: "TCP listen queue overflows", Unit: "cps", Min: f(0),
					Description: "Connections dropped because an accept queue was full: a server too slow to accept.",
					Targets:     []string{"aliasByNode(" + h + "tcp.{ListenOverflows,ListenDrops}, -1)"}},
				{Title: "TCP connections", Unit: "short", Min: f(0),
					Description: "Established connections (gauge) and opens per second.",
					Targets:     []string{"aliasByNode(" + h + "tcp.{CurrEstab,ActiveOpens,PassiveOpens,EstabResets}, -1)"}},
				{Title: "Sockets", Unit: "short", Min: f(0),
					Targets: []string{"aliasByNode(" + h + "sockets.{used,tcp_inuse,tcp_tw,tcp_orphan,udp_inuse}, -1)"}},
			}},
			{Title: "Pressure stalls (PSI)", Panels: []Panel{
				{Title: "CPU pressure", Unit: "percent", Min: f(0), Width: 8,
					Description: "Share of the interval some (full: all non-idle) tasks waited for a CPU, from /proc/pressure/cpu.",
					Targets:     []string{"aliasByNode(" + h + "pressure.cpu.{some,full}.stalled_percentage, -2)"}},
				{Title: "Memory pressure", Unit: "percent", Min: f(0), Width: 8,
					Description: "Share of the interval tasks stalled on memory (reclaim, swap-in, thrashing); full: all of them at once.",
					Targets:     []string{"aliasByNode(" + h + "pressure.memory.{some,full}.stalled_percentage, -2)"}},
				{Title: "IO pressure", Unit: "percent", Min: f(0), Width: 8,
					Description: "Share of the interval tasks waited for block IO; full: all non-idle tasks at once.",
					Targets:     []string{"aliasByNode(" + h + "pressure.io.{some,full}.stalled_percentage, -2)"}},
			}},
			{Title: "System", Panels: []Panel{
				{Title: "Entropy available", Unit: "short", Min: f(0), Width: 8,
					Targets: []string{"alias(" + h + "entropy.available, 'entropy bits')"}},
				{Title: "File handles", Unit: "short", Min: f(0), Width: 8,
					Description: "Allocated file handles; the limit (files.max) is usually too large to draw.",
					Targets:     []string{"aliasByNode(" + h + "files.{assigned,unused}, -1)"}},
				{Title: "Uptime", Unit: "m", Stat: true, Width: 8,
					Targets: []string{"alias(" + h + "uptime.minutes, 'uptime')"}},
			}},
			{Title: "Cluster: all hosts", Panels: []Panel{
				{Title: "Load per CPU, by host", Unit: "short", Min: f(0),
					Targets: []string{"aliasByNode(sortByMaxima($prefix.*.loadavg.01_normalized), -3)"}},
				{Title: "Memory used %, by host", Unit: "percent", Min: f(0), Max: f(100),
					Targets: []string{"aliasByNode(sortByMaxima($prefix.*.memory.MemUsedPercentage), -3)"}},
				{Title: "Root file system free, by host", Unit: "percent", Min: f(0), Max: f(100),
					Targets: []string{"aliasByNode($prefix.*.diskspace.root.byte_percentfree, -4)"}},
				{Title: "Established TCP connections, by host", Unit: "short", Min: f(0),
					Targets: []string{"aliasByNode(sortByMaxima($prefix.*.tcp.CurrEstab), -3)"}},
			}},
		},
	}
}

func containers() Dashboard {
	c := h + "containers.$container."
	tagged := func(metric string) string {
		return "seriesByTag('name=container." + metric + "', 'image=~${image:regex}', 'label_${label}=~${label_value:regex}')"
	}
	top := func(fn, path string, nodes string) string {
		return "aliasByNode(" + fn + "(" + c + path + ", $top), " + nodes + ")"
	}
	return Dashboard{
		File: "containers.json", UID: "nodemetrics-containers", Title: "nodemetrics / Containers",
		Tags: []string{"nodemetrics", "graphite", "containers"},
		Vars: []Var{
			prefixVar, hostVar,
			{Name: "container", Label: "container (glob)", Type: "textbox", Query: "*",
				Description: "Graphite glob on the container node, e.g. web-* or {api,db}"},
			{Name: "top", Label: "top N", Type: "custom", Query: "5,10,20,50"},
			{Name: "image", Label: "image", Type: "query", Multi: true,
				Query:       "tag_values(image, name=container.cpu.total)",
				Description: "image tag of the tagged series (agent --tags)"},
			{Name: "label", Label: "label", Type: "textbox", Query: "region",
				Description: "a container label the agent publishes as the tag label_<name> (agent --tag-labels)"},
			{Name: "label_value", Label: "label value", Type: "query", Multi: true, IncludeAll: true, AllValue: ".*",
				Query:       "tag_values(label_$label, name=container.cpu.total, image=~${image:regex})",
				Description: "All also takes the containers without the label"},
		},
		Annotations: []Annotation{
			{Name: "Container start", Color: "green", Tags: []string{"container", "start", "host=$host"}},
			{Name: "Container die", Color: "orange", Tags: []string{"container", "die", "host=$host"}},
			{Name: "Container OOM", Color: "red", Tags: []string{"container", "oom", "host=$host"}},
		},
		Rows: []Row{
			{Title: "Top containers on $host", Panels: []Panel{
				{Title: "Top $top by CPU", Unit: "percent", Min: f(0),
					Description: "Percent of one CPU, highest average over the range first.",
					Targets:     []string{top("highestAverage", "cpu.total", "-3")}},
				{Title: "Top $top by memory (working set)", Unit: "bytes", Min: f(0),
					Description: "Working set = usage minus inactive file pages (what the OOM killer looks at).",
					Targets:     []string{top("highestAverage", "memory.working_set_byte", "-3")}},
				{Title: "CPU user and system, all matching containers", Unit: "percent", Min: f(0), Stack: true,
					Targets: []string{"alias(sumSeries(" + c + "cpu.user), 'user')", "alias(sumSeries(" + c + "cpu.system), 'system')"}},
				{Title: "Memory limit, top $top", Unit: "bytes", Min: f(0),
					Targets: []string{top("highestMax", "memory.limit_byte", "-3")}},
				{Title: "Running containers", Unit: "short", Min: f(0), Stat: true, Width: 6,
					Targets: []string{"alias(" + h + "containers.running_count, 'running')"}},
				{Title: "Containers not published (over --max-containers)", Unit: "short", Min: f(0), Stat: true, Width: 6,
					Targets: []string{"alias(" + h + "containers.skipped_count, 'skipped')"}},
				{Title: "Processes, top $top", Unit: "short", Min: f(0),
					Targets: []string{top("highestMax", "pids.current", "-3")}},
			}},
			{Title: "Throttling and OOM on $host", Panels: []Panel{
				{Title: "CPU throttled time, top $top", Unit: "s", Min: f(0),
					Description: "Seconds per second the CFS quota held the container back.",
					Targets:     []string{top("highestMax", "cpu.throttled_seconds", "-3")}},
				{Title: "Throttled periods, top $top", Unit: "cps", Min: f(0),
					Targets: []string{top("highestMax", "cpu.throttled_periods", "-3")}},
				{Title: "OOM kills (cumulative), top $top", Unit: "short", Min: f(0),
					Description: "OOM kills counted by the container's cgroup; the red markers are the agent's oom events.",
					Targets:     []string{top("highestMax", "memory.oom_kills", "-3")}},
			}},
			{Title: "Pressure stalls (PSI) on $host", Panels: []Panel{
				{Title: "CPU pressure, top $top", Unit: "percent", Min: f(0), Width: 8,
					Description: "Share of the interval some of the container's tasks waited for a CPU (its cgroup2 cpu.pressure).",
					Targets:     []string{top("highestAverage", "pressure.cpu.some_percentage", "-4")}},
				{Title: "Memory pressure, top $top", Unit: "percent", Min: f(0), Width: 8,
					Description: "Share of the interval some of the container's tasks stalled on memory (memory.pressure).",
					Targets:     []string{top("highestAverage", "pressure.memory.some_percentage", "-4")}},
				{Title: "IO pressure, top $top", Unit: "percent", Min: f(0), Width: 8,
					Description: "Share of the interval some of the container's tasks waited for block IO (io.pressure).",
					Targets:     []string{top("highestAverage", "pressure.io.some_percentage", "-4")}},
			}},
			{Title: "Container IO and network on $host", Panels: []Panel{
				{Title: "Network per container, top $top", Unit: "binBps", NegativeY: ".*tx_.*",
					Description: "Received above the axis, sent below; per interface inside the container.",
					Targets: []string{
						"aliasByNode(highestAverage(" + c + "network.*.rx_byte, $top), -4, -2, -1)",
						"aliasByNode(highestAverage(" + c + "network.*.tx_byte, $top), -4, -2, -1)",
					}},
				{Title: "Network errors and drops, worst $top", Unit: "pps", Min: f(0),
					Targets: []string{"aliasByNode(limit(sortByMaxima(" + c + "network.*.{rx_errors,tx_errors,rx_drop,tx_drop}), $top), -4, -2, -1)"}},
				{Title: "Block IO per container, top $top", Unit: "binBps", NegativeY: ".*write.*",
					Description: "Reads above the axis, writes below.",
					Targets: []string{
						"aliasByNode(highestAverage(" + c + "io.read_byte_per_second, $top), -3, -1)",
						"aliasByNode(highestAverage(" + c + "io.write_byte_per_second, $top), -3, -1)",
					}},
				{Title: "Block IO operations per container, top $top", Unit: "iops", Min: f(0),
					Targets: []string{
						"aliasByNode(highestAverage(" + c + "io.reads_per_second, $top), -3, -1)",
						"aliasByNode(highestAverage(" + c + "io.writes_per_second, $top), -3, -1)",
					}},
			}},
			{Title: "Groups by tag: image $image, $label $label_value (all hosts)", Panels: []Panel{
				{Title: "CPU per container vs group average", Unit: "percent", Min: f(0),
					Description: "Each container of the selected images and label values, and their average (thick).",
					Targets: []string{
						"aliasByTags(" + tagged("cpu.total") + ", 'host', 'container')",
						"alias(averageSeries(" + tagged("cpu.total") + "), 'group average')",
					}},
				{Title: "Average CPU per image", Unit: "percent", Min: f(0),
					Targets: []string{"aliasByTags(groupByTags(" + tagged("cpu.total") + ", 'average', 'image'), 'image')"}},
				{Title: "Average working set per image", Unit: "bytes", Min: f(0),
					Targets: []string{"aliasByTags(groupByTags(" + tagged("memory.working_set_byte") + ", 'average', 'image'), 'image')"}},
				{Title: "Working set per container vs group average", Unit: "bytes", Min: f(0),
					Targets: []string{
						"aliasByTags(" + tagged("memory.working_set_byte") + ", 'host', 'container')",
						"alias(averageSeries(" + tagged("memory.working_set_byte") + "), 'group average')",
					}},
				{Title: "Total CPU per $label", Unit: "percent", Min: f(0),
					Description: "Only the containers that have the label: graphite-web's groupByTags fails on a series without the tag.",
					Targets: []string{"aliasByTags(groupByTags(seriesByTag('name=container.cpu.total', 'image=~${image:regex}', " +
						"'label_${label}=~${label_value:regex}', 'label_${label}=~.+'), 'sum', 'label_${label}'), 'label_${label}')"}},
			}},
		},
	}
}

func agent() Dashboard {
	a := h + "agent."
	return Dashboard{
		File: "agent.json", UID: "nodemetrics-agent", Title: "nodemetrics / Agent",
		Tags: []string{"nodemetrics", "graphite"},
		Vars: []Var{prefixVar, hostVar},
		Rows: []Row{
			{Title: "Collectors on $host", Panels: []Panel{
				{Title: "Collector duration", Unit: "s", Min: f(0),
					Description: "Wall time of each collector's run; a collector is cut off at 80% of the interval.",
					Targets:     []string{"aliasByNode(sortByMaxima(" + a + "collectors.*.duration_seconds), -2)"}},
				{Title: "Collector success", Unit: "percentunit", Min: f(0), Max: f(1),
					Description: "1 when the collector's last run succeeded, 0 when it failed or missed its deadline.",
					Targets:     []string{"aliasByNode(" + a + "collectors.*.success, -2)"}},
				{Title: "Skipped ticks per collector", Unit: "short", Min: f(0),
					Description: "Ticks skipped because the previous run had not returned (cumulative).",
					Targets:     []string{"aliasByNode(" + a + "collectors.*.skipped, -2)"}},
				{Title: "Tick lag", Unit: "s", Min: f(0),
					Description: "How late each cycle started after its tick.",
					Targets:     []string{"alias(" + a + "tick_lag_seconds, 'tick lag')"}},
			}},
			{Title: "Carbon output of $host", Panels: []Panel{
				{Title: "Lines sent", Unit: "suffix: lines/s", Min: f(0),
					Targets: []string{"alias(perSecond(" + a + "carbon.sent), 'sent')", "alias(perSecond(" + a + "carbon.resent), 'resent')"}},
				{Title: "Queue and spool", Unit: "short", Min: f(0),
					Description: "Lines waiting in memory and on disk.",
					Targets:     []string{"aliasByNode(" + a + "carbon.{queued,spooled}, -1)"}},
				{Title: "Drops, reconnects and errors", Unit: "short", Min: f(0),
					Description: "Increase per collection interval of the cumulative counters.",
					Targets:     []string{"aliasByNode(nonNegativeDerivative(" + a + "carbon.{dropped,reconnects,errors}), -1)"}},
				{Title: "Totals since start", Unit: "short", Min: f(0),
					Targets: []string{"aliasByNode(" + a + "carbon.{dropped,reconnects,errors}, -1)"}},
			}},
		},
	}
}

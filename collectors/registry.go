// SPDX-License-Identifier: Apache-2.0

// Package collectors holds the host collectors. Each one reads a few files
// under the host's /proc, /sys or root (passed in as a collect.Host, never a
// global) and emits Diamond-compatible metric paths into a collect.Sample.
package collectors

import "github.com/nodemetrics/nodemetrics/collect"

// Registry lists every host collector in publishing order: one explicit
// table, no init() side effects. Paths are the metric patterns of
// docs/metrics.md, relative to <prefix>.<host>, printed by --list.
// filters (nil: Diamond's defaults) gives the network, diskspace and
// iostat collectors their selection when they are built.
func Registry(filters func() Filters) []collect.Factory {
	return []collect.Factory{
		{Name: "cpu", Default: true, New: newCPU, Paths: []string{
			"cpu.total.<mode>", "cpu.cpu<N>.<mode>", "cpu.cpu_count"}},
		{Name: "memory", Default: true, New: newMemory, Paths: []string{
			"memory.<MemTotal|MemFree|MemAvailable|Buffers|Cached|Active|Dirty|Inactive|Shmem|SwapTotal|SwapFree|SwapCached|VmallocTotal|VmallocUsed|VmallocChunk|Committed_AS>",
			"memory.MemUsedPercentage"}},
		{Name: "loadavg", Default: true, New: newLoadavg, Paths: []string{
			"loadavg.<01|05|15>", "loadavg.<01|05|15>_normalized",
			"loadavg.processes_running", "loadavg.processes_total"}},
		{Name: "vmstat", Default: true, New: newVMStat, Paths: []string{
			"vmstat.<pgfault|pgmajfault|pgpgin|pgpgout|pswpin|pswpout>"}},
		{Name: "diskspace", Default: true, New: filtered(newDiskspace, filters), Paths: []string{
			"diskspace.<fs>.<byte_percentfree|byte_used|byte_free|byte_avail>",
			"diskspace.<fs>.<inodes_percentfree|inodes_used|inodes_free|inodes_avail>"}},
		{Name: "iostat", Default: true, New: filtered(newIOStat, filters), Paths: []string{
			"iostat.<dev>.<reads|writes|reads_merged|writes_merged|reads_byte|writes_byte>",
			"iostat.<dev>.<reads_milliseconds|writes_milliseconds|io_milliseconds|io_milliseconds_weighted|io_in_progress>",
			"iostat.<dev>.<io|iops|reads_per_second|writes_per_second|read_requests_merged_per_second|write_requests_merged_per_second>",
			"iostat.<dev>.<read_byte_per_second|write_byte_per_second|average_request_size_byte|average_queue_length>",
			"iostat.<dev>.<util_percentage|read_await|write_await|await|service_time|concurrent_io>"}},
		{Name: "network", Default: true, New: filtered(newNetwork, filters), Paths: []string{
			"network.<if>.<rx_byte|tx_byte|rx_bit|tx_bit>",
			"network.<if>.<rx_packets|rx_errors|rx_drop|rx_fifo|rx_frame|rx_compressed|rx_multicast>",
			"network.<if>.<tx_packets|tx_errors|tx_drop|tx_fifo|tx_colls|tx_carrier|tx_compressed>"}},
		{Name: "sockets", Default: true, New: newSockets, Paths: []string{
			"sockets.<used|tcp_inuse|tcp_orphan|tcp_tw|tcp_alloc|tcp_mem|udp_inuse|udp_mem>"}},
		{Name: "tcp", Default: true, New: newTCP, Paths: []string{
			"tcp.<ListenOverflows|ListenDrops|TCPLoss|TCPTimeouts|TCPFastRetrans|TCPLostRetransmit|TCPForwardRetrans|TCPSlowStartRetrans>",
			"tcp.<TCPAbortOnMemory|TCPBacklogDrop|AttemptFails|EstabResets|InErrs|ActiveOpens|PassiveOpens>",
			"tcp.CurrEstab"}},
		{Name: "entropy", Default: true, New: newEntropy, Paths: []string{"entropy.available"}},
		{Name: "files", Default: true, New: newFiles, Paths: []string{"files.<assigned|unused|max>"}},
		{Name: "interrupts", Default: true, New: newInterrupts, Paths: []string{
			"interrupts.<name>.CPU<i>", "interrupts.<name>.total", "interrupts.<ERR|MIS>"}},
		{Name: "uptime", Default: true, New: newUptime, Paths: []string{"uptime.minutes"}},
		{Name: "proc", Default: true, New: newProc, Paths: []string{
			"proc.<ctxt|processes>", "proc.<procs_running|procs_blocked>", "proc.btime"}},
		{Name: "pressure", Default: true, New: newPressure, Paths: []string{
			"pressure.<cpu|memory|io>.<some|full>.<avg10|avg60|avg300|stalled_percentage>"}},
	}
}

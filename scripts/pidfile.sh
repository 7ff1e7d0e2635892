# Shared by scripts/graphite.sh and scripts/cluster.sh (sourced): processes
# are found again only through the pid files the script wrote in $DIR/run
# (pid and the kernel's start time of that pid, so a recycled pid is never
# taken for ours), never by name. Each process is started as the leader of
# its own session (setsid); stop_one ends the leader, then whatever is left
# of its process group.

# start_time PID: the kernel's start time of PID (field 22 of /proc/PID/stat,
# clock ticks since boot), which tells a process from a later one that got
# the same pid. Fails when PID does not exist.
start_time() {
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest="${stat##*) }" # after "pid (comm) ": comm may hold spaces and ')'
	set -- $rest
	[[ -n "${20:-}" ]] || return 1
	echo "${20}"
}

# write_pid NAME PID: DIR/run/NAME.pid holds "PID START_TIME".
write_pid() {
	local st
	st="$(start_time "$2")" || st=0 # already gone: alive will say so
	echo "$2 $st" >"$DIR/run/$1.pid"
}

# alive NAME: true if DIR/run/NAME.pid names a running process of ours
# (same pid, same start time), whatever it calls itself now.
alive() {
	local f="$DIR/run/$1.pid" pid st now
	[[ -f "$f" ]] || return 1
	read -r pid st <"$f" || true
	[[ "$pid" =~ ^[0-9]+$ && "$st" =~ ^[0-9]+$ ]] || return 1
	now="$(start_time "$pid")" || return 1
	[[ "$now" == "$st" ]]
}

# group_left PGID: true while a process of that process group exists.
group_left() { kill -0 -- "-$1" 2>/dev/null; }

# stop_one NAME [TIMEOUT [SIGNAL]]: SIGNAL (TERM) to the process, wait,
# SIGKILL; then SIGKILL to what is left of its process group (it was
# started as a session leader: its pid is the group's id, and the kernel
# does not give that pid to another process while the group has members).
# Removes the pid file.
stop_one() {
	local name="$1" timeout="${2:-15}" sig="${3:-TERM}" pid i
	if alive "$name"; then
		read -r pid _ <"$DIR/run/$name.pid"
		kill -"$sig" "$pid" 2>/dev/null || true
		# The watcher's tail child ends with it.
		if [[ $name == watch ]]; then kill -"$sig" -- "-$pid" 2>/dev/null || true; fi
		for ((i = 0; i < timeout * 20; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "${0##*/}: $name ($pid) did not stop in ${timeout}s, killing" >&2
			kill -KILL "$pid" 2>/dev/null || true
			while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
		fi
		if group_left "$pid"; then
			kill -KILL -- "-$pid" 2>/dev/null || true
			for ((i = 0; i < 100; i++)); do
				group_left "$pid" || break
				sleep 0.05
			done
		fi
	fi
	rm -f "$DIR/run/$name.pid"
}

# start_watch PID SCRIPT: when PID exits, run "SCRIPT stop DIR" (with
# NM_FROM_WATCH=1, so that stop leaves the watcher alone). Tests pass their
# own pid: a killed test leaves nothing running.
start_watch() {
	local pid="$1"
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || die "watch pid $pid is not running"
	setsid bash -c 'tail --pid="$1" -f /dev/null; NM_FROM_WATCH=1 "$2" stop "$3"' \
		nm-watch "$pid" "$2" "$DIR" </dev/null >>"$DIR/log/watch.out" 2>&1 &
	write_pid watch $!
}

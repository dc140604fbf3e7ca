package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// processCPU is the user+system CPU time a process has used, from
// /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from the text of
// /proc/<pid>/stat; the command name in parentheses may hold spaces.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("loadgen: /proc stat without a command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("loadgen: /proc stat has %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("loadgen: /proc stat utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverPID reads the database server's pid from its pid file (the
// server names it in @@pid_file), if the server runs on this machine and
// the process is a MariaDB or MySQL server; 0 otherwise.
func serverPID(pidFile string) int {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return 0
	}
	switch strings.TrimSpace(string(comm)) {
	case "mariadbd", "mysqld":
		return pid
	}
	return 0
}

// cpuUse is the CPU time the processes of a run used during a phase.
type cpuUse struct {
	Gateway, Server, Self time.Duration
}

// cpuMeter reads the CPU time of the gateway (if ours), the database
// server (if on this machine) and this process.
type cpuMeter struct{ gateway, server int }

func (c cpuMeter) read() cpuUse {
	var u cpuUse
	if c.gateway > 0 {
		u.Gateway, _ = processCPU(c.gateway)
	}
	if c.server > 0 {
		u.Server, _ = processCPU(c.server)
	}
	u.Self = selfCPU()
	return u
}

func (u cpuUse) sub(v cpuUse) cpuUse {
	return cpuUse{Gateway: u.Gateway - v.Gateway, Server: u.Server - v.Server, Self: u.Self - v.Self}
}

package isolate

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procStat is the part of /proc/PID/stat the isolator reads.
type procStat struct {
	state      byte
	session    int
	utime      uint64 // clock ticks
	stime      uint64
	startTicks uint64 // clock ticks after boot
	rssPages   int64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses /proc/PID/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procStat{}, fmt.Errorf("parse /proc stat: no command field")
	}
	f := strings.Fields(string(b[i+2:])) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("parse /proc stat: %d fields", len(f)+2)
	}
	field := func(n int) string { return f[n-3] }
	var st procStat
	var err error
	num := func(n int) uint64 {
		v, e := strconv.ParseUint(field(n), 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("parse /proc stat field %d: %w", n, e)
		}
		return v
	}
	st.state = field(3)[0]
	st.session = int(num(6))
	st.utime = num(14)
	st.stime = num(15)
	st.startTicks = num(22)
	rss, e := strconv.ParseInt(field(24), 10, 64)
	if e != nil && err == nil {
		err = fmt.Errorf("parse /proc stat field 24: %w", e)
	}
	st.rssPages = rss
	return st, err
}

// sessionUsage sums CPU time and resident memory of every process whose
// session id is sid.
func sessionUsage(sid int) (Usage, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return Usage{}, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return Usage{}, err
	}
	var ticks uint64
	var pages int64
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.session != sid {
			continue // gone meanwhile, or another session
		}
		ticks += st.utime + st.stime
		pages += st.rssPages
	}
	return Usage{
		CPUSeconds: float64(ticks) / clockTicks,
		MemBytes:   uint64(pages) * uint64(os.Getpagesize()),
	}, nil
}

// readBootID identifies this boot of the machine ("" if unknown): process
// start times only compare within one boot.
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

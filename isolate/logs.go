package isolate

import (
	"fmt"
	"io"
	"os"
)

// DefaultLogMaxBytes caps one stream of one task's log (stdout or stderr).
const DefaultLogMaxBytes = 64 << 20

// RotateLog keeps a task's log file under max bytes, so a chatty task cannot
// fill the disk: when the file is larger, its content moves to path.1
// (replacing an older one) and the file is truncated in place. Truncating,
// not renaming, because the task (or systemd) holds the file open in append
// mode and keeps writing to whatever inode it opened: after the truncate its
// next write lands at the start of the same file. A line written between the
// copy and the truncate is lost; a stream never uses more than twice max.
func RotateLog(path string, max int64) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= max {
		if os.IsNotExist(err) {
			err = nil
		}
		return false, err
	}
	src, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	defer src.Close()
	old := path + ".1"
	dst, err := os.OpenFile(old, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	return true, nil
}

package systemdtest

import "strings"

// maskedUnits are linked to /dev/null in the sandbox's /run/systemd/system:
// each would otherwise touch the shared machine (its /tmp, /dev, /var, kernel
// settings, clock, disks or devices) or is of no use in a test.
var maskedUnits = []string{
	// The TESTING.md list.
	"systemd-remount-fs.service",
	"systemd-sysctl.service",
	"systemd-binfmt.service",
	"proc-sys-fs-binfmt_misc.automount",
	"proc-sys-fs-binfmt_misc.mount",
	"systemd-modules-load.service",
	"systemd-sysusers.service",
	"systemd-firstboot.service",
	"systemd-random-seed.service",
	"systemd-machine-id-commit.service",
	"systemd-hwdb-update.service",
	"systemd-udevd.service",
	"systemd-udev-trigger.service",
	"systemd-timesyncd.service",
	"systemd-tmpfiles-setup.service", // empties the machine's /tmp
	"systemd-tmpfiles-setup-dev.service",
	"systemd-tmpfiles-clean.service",
	"systemd-tmpfiles-clean.timer",
	"ldconfig.service",
	"systemd-journal-flush.service", // would move the journal to /var/log/journal
	"systemd-update-utmp.service",
	// Found by listing the units this systemd pulls in here.
	"systemd-journald-dev-log.socket", // symlinks /dev/log in the shared devtmpfs
	"systemd-journald-audit.socket",   // the kernel's audit stream is machine-wide
	"systemd-initctl.socket",          // symlinks /dev/initctl
	"systemd-pstore.service",          // moves /sys/fs/pstore entries to /var
	"systemd-repart.service",          // partitions disks
	"systemd-pcrphase.service",        // TPM
	"systemd-pcrphase-sysinit.service",
	"kmod-static-nodes.service", // creates nodes in the shared /dev
	"dev-hugepages.mount",
	"dev-mqueue.mount",
	"sys-fs-fuse-connections.mount",
	"sys-kernel-config.mount",
	"sys-kernel-debug.mount",
	"sys-kernel-tracing.mount",
	"systemd-journal-catalog-update.service", // writes /var/lib/systemd/catalog
	"systemd-update-done.service",            // writes /etc/.updated, /var/.updated
	"systemd-ask-password-console.path",
	"systemd-ask-password-wall.path",
	"swap.target", // swapon is machine-wide
	"systemd-logind.service",
	"getty.target",
	"console-getty.service",
	"serial-getty@.service",
	"getty@.service",
}

// bootScript returns the script that runs as PID 1 of the fresh namespaces
// and execs systemd. id marks it (and, through the environment, the systemd
// it execs) so leftovers can be found.
func bootScript(id string) string {
	return strings.NewReplacer(
		"@ID@", id,
		"@MASKS@", strings.Join(maskedUnits, " "),
	).Replace(bootScriptTemplate)
}

const bootScriptTemplate = `#!/bin/bash
# clusterd systemd test sandbox, @ID@ (see package systemdtest).
# Runs as PID 1 of fresh pid, mount, uts and ipc namespaces.
set -euo pipefail
export CLUSTERD_SANDBOX_ID=@ID@

# Nothing mounted here may propagate to the machine.
mount --make-rprivate /

# A private /run: systemd's sockets, the journal, generated units.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run

# A private tmpfs on /sys/fs/cgroup holding bind mounts of the machine's
# hierarchies. systemd creates mount points for the controllers nobody
# mounted (hugetlb, perf_event, ...) and then remounts the /sys/fs/cgroup
# tmpfs read-only: done on the shared tmpfs, both reach the machine (the
# remount flips the superblock, read-only for everyone).
mkdir /run/.host-cgroup
mount --rbind /sys/fs/cgroup /run/.host-cgroup
mount -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
for e in /run/.host-cgroup/*; do
	n=${e##*/}
	if [ ! -L "$e" ] && mountpoint -q "$e"; then
		mkdir "/sys/fs/cgroup/$n"
		mount --bind "$e" "/sys/fs/cgroup/$n"
	fi
done
# Links such as cpu -> cpu,cpuacct, when their target came along.
for e in /run/.host-cgroup/*; do
	n=${e##*/}
	if [ -L "$e" ] && [ -d "/sys/fs/cgroup/$(readlink "$e")" ]; then
		cp -P "$e" "/sys/fs/cgroup/$n"
	fi
done
umount -R /run/.host-cgroup
rmdir /run/.host-cgroup

# Kernel settings are machine-wide: systemd would raise fs.file-max and
# net.unix.max_dgram_qlen. Read-only here (per mount, not per superblock).
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys

# Units that would touch the machine are masked.
mkdir -p /run/systemd/system /run/systemd/journald.conf.d
for u in @MASKS@; do
	ln -s /dev/null "/run/systemd/system/$u"
done
cat >/run/systemd/system/sandbox.target <<'EOF'
[Unit]
Description=clusterd test sandbox
Wants=dbus.socket systemd-journald.service
EOF
# The journal stays in the private /run (/var/log/journal is the machine's).
cat >/run/systemd/journald.conf.d/sandbox.conf <<'EOF'
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToConsole=no
ForwardToWall=no
EOF

export container=clusterd-sandbox
exec /lib/systemd/systemd --system --unit=sandbox.target --show-status=no
`

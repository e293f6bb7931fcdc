#!/bin/bash
# Runs inside the test guest (copied in by guest.py): builds the storage stacks the agent must
# understand, on the scratch disks that tests/vm/guest.py attaches. Idempotent: on a second run
# (or after a reboot with the same disks) it only assembles and mounts what already exists.
#
#   /data    ext4 on partition 1 of the GPT-partitioned virtio-blk disk QA-DATA
#   /bind    bind mount of /data/sub
#   /loop    ext4 image file /data/loop.img, loop-mounted
#   /lvm     xfs on LV qa-vg/span, linear over virtio-scsi target 2 LUN 3 and the SATA disk
#   /raid    ext4 on MD RAID1 /dev/md/qa-raid over virtio-blk QA-RAID-A and QA-RAID-B
#   /nvme    ext4 on the NVMe namespace
#   /scsi    btrfs on virtio-scsi target 0 LUN 0
#   /hba     ext4 on the disk behind the megasas HBA
#   /lsi, /pvscsi, /sas  ext4 on the disks behind lsi53c895a, pvscsi and mptsas1068
#   /scratch tmpfs
set -euo pipefail
exec 2>&1
# Every UUID (partition table, filesystems, MD, LVM) is fixed, so that two provisioned guests
# look the same to the agent and to tests/fixtures/capture.sh.
mkdir -p /run/qa

say() { printf '[provision] %s\n' "$*"; }

# Disks are found by serial (lsblk reads it from sysfs/udev), never by kernel name: vdb, sda and
# nvme0n1 depend on probe order.
dev_by_serial() {
	local serial=$1 dev i
	for i in $(seq 1 100); do
		dev=$(lsblk -dnpo NAME,SERIAL | awk -v s="$serial" '$2 == s { print $1; exit }')
		[ -n "$dev" ] && { echo "$dev"; return 0; }
		udevadm settle -t 5 || true
		sleep 0.2
	done
	echo "no disk with serial $serial" >&2
	return 1
}

has_fs() { [ -n "$(blkid -o value -s TYPE "$1" 2>/dev/null)" ]; }

mkfs_once() { # fstype device [mkfs options...]
	local fstype=$1 dev=$2
	shift 2
	has_fs "$dev" || { say "mkfs.$fstype $dev"; "mkfs.$fstype" "$@" "$dev" >/dev/null; }
}

mount_once() { # device mountpoint [mount options...]
	local dev=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	mountpoint -q "$mnt" || { say "mount $dev $mnt"; mount "$@" "$dev" "$mnt"; }
}

# The HBA drivers load in a fixed order after boot (see qa-storage-modules.service); wait for them.
systemctl start qa-storage-modules.service
udevadm settle -t 30 || true

# --- partitioned virtio-blk disk: /data, /bind, /loop ------------------------------------------
data=$(dev_by_serial QA-DATA)
if [ -z "$(lsblk -nro NAME "$data" | sed 1d)" ]; then
	say "GPT with 2 partitions on $data"
	sfdisk -q -X gpt "$data" <<-'EOF'
		label-id: 0A0A0A0A-0000-4000-8000-000000000001
		size=320MiB, name=qa-data, uuid=0A0A0A0A-0000-4000-8000-000000000011
		name=qa-spare, uuid=0A0A0A0A-0000-4000-8000-000000000012
	EOF
	udevadm settle -t 30 || true
fi
data1=$(lsblk -nrpo NAME "$data" | sed -n 2p)
mkfs_once ext4 "$data1" -q -L qa-data -U 0a0a0a0a-0000-4000-8000-0000000000d1
mount_once "$data1" /data
mkdir -p /data/sub
echo "bind source" >/data/sub/README
mount_once /data/sub /bind --bind
[ -f /data/loop.img ] || { truncate -s 64M /data/loop.img;
	mkfs.ext4 -q -F -L qa-loop -U 0a0a0a0a-0000-4000-8000-0000000000d2 /data/loop.img; }
mount_once /data/loop.img /loop -o loop

# --- LVM over virtio-scsi target 2 LUN 3 + SATA port 2: /lvm ---------------------------------
scsi23=$(dev_by_serial QA-SCSI-T2L3)
sata=$(dev_by_serial QA-SATA-P2)
if ! vgs qa-vg >/dev/null 2>&1; then
	say "VG qa-vg on $scsi23 $sata"
	pvcreate -q -y -ff --norestorefile --uuid qapv00-0000-0000-0000-0000-0000-000001 "$scsi23"
	pvcreate -q -y -ff --norestorefile --uuid qapv00-0000-0000-0000-0000-0000-000002 "$sata"
	vgcreate -q qa-vg "$scsi23" "$sata"
fi
if ! lvs qa-vg/span >/dev/null 2>&1; then
	# 100%FREE on a linear LV: the LV must take extents from both PVs.
	lvcreate -q -y -Zy -Wy -l 100%FREE -n span qa-vg
	# Fixed VG and LV UUIDs (they show up in dm names, udev properties and captured fixtures):
	# LVM has no option for them, so rewrite its metadata once, before anything uses the LV.
	vgchange -q -an qa-vg >/dev/null
	vgcfgbackup -q -f /run/qa/vg.cfg qa-vg >/dev/null
	awk '/^qa-vg \{/ { sect = "vg" } /^\t\tspan \{/ { sect = "lv" }
	     /^\t*id = / && sect == "vg" { sub(/"[^"]*"/, "\"qavg00-0000-0000-0000-0000-0000-000001\""); sect = "" }
	     /^\t*id = / && sect == "lv" { sub(/"[^"]*"/, "\"qalv00-0000-0000-0000-0000-0000-000001\""); sect = "" }
	     { print }' /run/qa/vg.cfg >/run/qa/vg-fixed.cfg
	vgcfgrestore -q -f /run/qa/vg-fixed.cfg qa-vg >/dev/null
fi
vgchange -q -ay qa-vg >/dev/null
udevadm settle -t 30 || true
[ "$(lvs --noheadings -o devices qa-vg/span | tr ',' '\n' | grep -c .)" -eq 2 ] ||
	{ echo "qa-vg/span does not span both disks" >&2; exit 1; }
mkfs_once xfs /dev/qa-vg/span -q -L qa-lvm -m uuid=0a0a0a0a-0000-4000-8000-0000000000f1
mount_once /dev/qa-vg/span /lvm

# --- MD RAID1 over two virtio-blk disks: /raid ---------------------------------------------
raida=$(dev_by_serial QA-RAID-A)
raidb=$(dev_by_serial QA-RAID-B)
if [ ! -e /dev/md/qa-raid ]; then
	if mdadm --examine "$raida" >/dev/null 2>&1; then
		say "assembling /dev/md/qa-raid"
		mdadm --assemble /dev/md/qa-raid "$raida" "$raidb"
	else
		say "RAID1 /dev/md/qa-raid on $raida $raidb"
		# --assume-clean: no initial resync competing with the tests for the TCG CPU.
		mdadm --create /dev/md/qa-raid --run --quiet --level=1 --raid-devices=2 \
			--metadata=1.2 --assume-clean --homehost=any \
			--uuid=0a0a0a0a:00000000:00000000:000000a1 "$raida" "$raidb"
	fi
	udevadm settle -t 30 || true
fi
mkfs_once ext4 /dev/md/qa-raid -q -L qa-raid -U 0a0a0a0a-0000-4000-8000-0000000000a1
mount_once /dev/md/qa-raid /raid

# --- the single disks: /nvme, /scsi, and one disk on each other SCSI host adapter ----------------
single_disk() { # serial fstype label uuid mountpoint
	local dev
	dev=$(dev_by_serial "$1")
	mkfs_once "$2" "$dev" -q -L "$3" -U "$4"
	mount_once "$dev" "$5"
}
single_disk QA-NVME ext4 qa-nvme 0a0a0a0a-0000-4000-8000-0000000000e1 /nvme
single_disk QA-SCSI-T0L0 btrfs qa-scsi 0a0a0a0a-0000-4000-8000-0000000000b1 /scsi
single_disk QA-MEGASAS ext4 qa-hba 0a0a0a0a-0000-4000-8000-0000000000c1 /hba
single_disk QA-LSI ext4 qa-lsi 0a0a0a0a-0000-4000-8000-0000000000c2 /lsi
single_disk QA-PVSCSI ext4 qa-pvscsi 0a0a0a0a-0000-4000-8000-0000000000c3 /pvscsi
single_disk QA-MPTSAS ext4 qa-sas 0a0a0a0a-0000-4000-8000-0000000000c4 /sas

# --- tmpfs: /scratch --------------------------------------------------------------------------
mount_once qa-scratch /scratch -t tmpfs -o size=64M

# Something to find in each filesystem (and to check in host-side snapshots later).
for m in /data /lvm /raid /nvme /scsi /hba /lsi /pvscsi /sas /loop /scratch; do
	[ -f "$m/qa-provisioned" ] || echo "$m" >"$m/qa-provisioned"
done
sync
# mkfs and mount finish before udev has processed the change events they cause; re-run the block
# rules and wait, so udev's database (serials, ID_FS_*) is complete for the agent and for captures.
udevadm settle -t 60 || true
udevadm trigger --action=change --subsystem-match=block
udevadm settle -t 60 || true
say "done"

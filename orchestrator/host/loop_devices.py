"""Loop devices for allocation volumes, named by allocation instead of by number.

A volume is an ext4 image on a loop device, so the kernel enforces its size. Loop numbers are handed
out again, in another order, after every reboot (or `losetup -D`): a Docker volume that recorded
``/dev/loop0`` would then mount whatever image holds that number now -- another tenant's disk. So a
volume names ``<data_dir>/devices/allocation-<id>``: a symlink, on a tmpfs of our own, to the loop
device that holds *this* allocation's image. A reboot clears the tmpfs (no mount survives one), so a
container that dockerd starts at boot, before the orchestrator, fails to mount its volume instead of
mounting a stranger's; the orchestrator attaches the images again and rewrites the links before it
starts anything (``attach``), and checks what each running container really mounted
(``mounted_image``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..errors import DockerHostError

LINK_DIR_OPTIONS = "size=1m,mode=0700,nosuid,nodev,noexec"


class LoopDevices:
    def __init__(self, data_dir: Path, run: Callable[[list[str]], str]):
        """``run(argv)``: runs a host command and returns its stdout (raising DockerHostError)."""
        self.images_dir = data_dir / "volumes"
        self.links_dir = data_dir / "devices"
        self._run = run

    def image(self, allocation: int) -> Path:
        return self.images_dir / f"allocation-{allocation}.img"

    def link(self, allocation: int) -> Path:
        """What a volume names as its device: stable for the allocation's life, gone after a reboot."""
        return self.links_dir / f"allocation-{allocation}"

    def create_image(self, allocation: int, size_gib: int, owner: str) -> bool:
        """Make the allocation's image unless it exists; True when made now (so attached nowhere)."""
        image = self.image(allocation)
        if image.exists():
            return False
        image.parent.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as f:
            f.truncate(max(1, size_gib) * 1024**3)  # sparse: costs disk only as it fills
        self._run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={owner}", str(image)])
        return True

    def attached(self) -> dict[Path, str]:
        """Every attached loop device by its image file, from sysfs (one read for a whole pass)."""
        found: dict[Path, str] = {}
        for block in Path("/sys/block").glob("loop*"):
            backing = _backing_file(block)
            if backing is not None:
                found.setdefault(backing, f"/dev/{block.name}")
        return found

    def attach(self, allocation: int, attached: dict[Path, str] | None = None) -> bool:
        """Attach the allocation's image to a loop device (if it isn't) and point its link at that
        device. True when something had to change (after a reboot, or a device detached by hand).
        ``attached``: what :meth:`attached` returned this pass (read now if not given; ``{}`` for an image
        made just now). A link that already names a device holding the image is trusted without a scan
        of every loop device, which would make each creation cost more as the host fills."""
        image = self.image(allocation)
        if not image.exists():
            raise DockerHostError(f"volume image {image} is missing")
        self._mount_links_dir()
        changed = False
        device = self.linked_device(allocation)
        if device is None:
            device = (self.attached() if attached is None else attached).get(image.resolve())
        if device is None:
            device = self._run(["losetup", "--find", "--show", str(image)]).strip()
            changed = True
        link = self.link(allocation)
        if not (link.is_symlink() and os.readlink(link) == device):
            staged = link.with_name(link.name + ".new")
            staged.unlink(missing_ok=True)
            staged.symlink_to(device)
            os.replace(staged, link)  # atomic: a mount sees the old device or the new one, never none
            changed = True
        return changed

    def linked_device(self, allocation: int) -> str | None:
        """The device the allocation's link names, if that device holds the allocation's image now."""
        try:
            device = os.readlink(self.link(allocation))
        except OSError:
            return None
        try:
            held = (Path("/sys/block") / Path(device).name / "loop" / "backing_file").read_text().strip()
        except OSError:
            return None
        # An image deleted and made again under the same path shows as "<path> (deleted)": not this one.
        return device if held == str(self.image(allocation).resolve()) else None

    def detach(self, allocation: int) -> None:
        """Remove the link, detach every loop device of the image, delete the image; the links' tmpfs
        goes with the last link (so that a data dir without volumes holds no mount)."""
        self.link(allocation).unlink(missing_ok=True)
        image = self.image(allocation)
        if image.exists():
            for line in self._run(["losetup", "-j", str(image)]).splitlines():
                self._run(["losetup", "-d", line.split(":", 1)[0]])
            image.unlink()
        if os.path.ismount(self.links_dir) and not any(self.links_dir.iterdir()):
            self.close()

    def mounted_image(self, pid: int, mount_point: str) -> Path | None:
        """The image file behind what process ``pid`` has mounted at ``mount_point`` (None: nothing
        there, not a loop device, or the process is gone)."""
        try:
            mountinfo = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            return None
        for line in mountinfo.splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == mount_point:
                return _backing_file(Path(f"/sys/dev/block/{fields[2]}"))
        return None

    def close(self) -> None:
        """Unmount the links' tmpfs (teardown: every volume is gone)."""
        if os.path.ismount(self.links_dir):
            self._run(["umount", str(self.links_dir)])

    def _mount_links_dir(self) -> None:
        if os.path.ismount(self.links_dir):
            return
        self.links_dir.mkdir(parents=True, exist_ok=True)
        self._run(["mount", "-t", "tmpfs", "-o", LINK_DIR_OPTIONS, "tenantchain-devices", str(self.links_dir)])


def _backing_file(block: Path) -> Path | None:
    """The file behind a loop block device's sysfs directory, or None."""
    try:
        backing = (block / "loop" / "backing_file").read_text().strip()
    except OSError:
        return None
    return Path(backing.removesuffix(" (deleted)"))

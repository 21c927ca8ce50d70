"""Fallback launcher (no bubblewrap): confine this process, then exec the untrusted program.

Runs as a standalone script (`python -I -S _launcher.py SPEC_JSON INFO_FD`), standard library
only, before the program exists: it takes a network namespace (or, without privileges, a user +
network namespace) where the kernel allows, sets the rlimits, drops to the sandbox uid when
started as root, forbids privilege gain, installs a seccomp filter that fails socket() for every
family but AF_UNIX, and execs the interpreter with an empty environment. What it achieved is
written as JSON to INFO_FD, which is closed before the exec so the program never sees it.
"""

import ctypes
import json
import os
import platform
import resource
import signal
import struct
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM, EACCES = 1, 13
AF_UNIX = 1
# classic BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
RET_K = 0x06
# (audit arch, socket syscall, io_uring_setup syscall, x32 bit or 0)
ARCHES = {
    "x86_64": (0xC000003E, 41, 425, 0x40000000),
    "aarch64": (0xC00000B7, 198, 425, 0),
}

libc = ctypes.CDLL(None, use_errno=True)


def fail(message):
    sys.stderr.write(f"rldojo sandbox launcher: {message}\n")
    os._exit(126)


def socket_filter():
    """BPF program: other ABIs -> EPERM; io_uring (can open sockets) -> EPERM;
    socket(family != AF_UNIX) -> EACCES; everything else allowed."""
    arch, socket_nr, io_uring_nr, x32_bit = ARCHES[platform.machine()]
    deny, refuse, allow = SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ERRNO | EACCES, SECCOMP_RET_ALLOW
    code = [(LD_W_ABS, 0, 0, 4), (JEQ_K, 1, 0, arch), (RET_K, 0, 0, deny), (LD_W_ABS, 0, 0, 0)]
    if x32_bit:
        code += [(JGE_K, 0, 1, x32_bit), (RET_K, 0, 0, deny)]
    code += [
        (JEQ_K, 0, 1, io_uring_nr),
        (RET_K, 0, 0, deny),
        (JEQ_K, 0, 3, socket_nr),
        (LD_W_ABS, 0, 0, 16),  # low 32 bits of args[0] (little-endian): the address family
        (JEQ_K, 1, 0, AF_UNIX),
        (RET_K, 0, 0, refuse),
        (RET_K, 0, 0, allow),
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code), len(code)


def install_socket_filter():
    if platform.machine() not in ARCHES:
        return False
    program, count = socket_filter()
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("=HxxxxxxQ", count, ctypes.addressof(buffer))
    fprog_buffer = ctypes.create_string_buffer(fprog)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog_buffer, 0, 0) == 0


def count_processes_of(uid):
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return count


def enter_user_and_network_namespace():
    """Unprivileged: a user namespace (mapped to uid 65534 inside) with its own network."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False
    try:
        with open("/proc/self/setgroups", "w") as handle:
            handle.write("deny")
        with open("/proc/self/uid_map", "w") as handle:
            handle.write(f"65534 {uid} 1")
        with open("/proc/self/gid_map", "w") as handle:
            handle.write(f"65534 {gid} 1")
    except OSError:
        pass  # still isolated; ids just show as the overflow id
    return True


def main():
    spec = json.loads(sys.argv[1])
    info_fd = int(sys.argv[2])
    info = {"user_namespace": False, "network_namespace": False, "seccomp_socket_filter": False}
    uid = spec["uid"]
    if uid is not None:
        info["network_namespace"] = libc.unshare(CLONE_NEWNET) == 0
    else:
        info["user_namespace"] = info["network_namespace"] = enter_user_and_network_namespace()
    limits = dict(spec["rlimits"])
    if uid is None and not info["user_namespace"]:
        # RLIMIT_NPROC counts all of this user's processes, not just ours: allow for the others.
        limits["NPROC"] += count_processes_of(os.getuid())
    for name, value in limits.items():
        soft, hard = (value, value) if name != "CPU" else (value, value + 1)
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (soft, hard))
    if uid is not None:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        except OSError as exc:
            fail(f"could not drop to uid {uid}: {exc}")
        if os.getuid() != uid or os.geteuid() != uid:
            fail("still privileged after setuid")
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    info["seccomp_socket_filter"] = install_socket_filter()
    os.write(info_fd, json.dumps(info).encode())
    os.close(info_fd)
    os.chdir(spec["workdir"])
    os.umask(0o077)
    python = spec["python"]
    os.execve(python, [python, "-I", spec["program"]], {})


if __name__ == "__main__":
    main()

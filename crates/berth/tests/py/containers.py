"""docker-py against berth: containers.run/create/logs/exec_run/wait/remove.

Run by tests/docker_py.rs with DOCKER_HOST pointing at a berth daemon that has busybox loaded.
Every check raises on failure; the last line printed is "ok".
"""
import docker

c = docker.from_env()


def check(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


check(c.containers.run("busybox", "echo hi", remove=True), b"hi\n", "run output")
try:
    c.containers.run("busybox", "sh -c 'echo oops >&2; exit 4'", remove=True)
    raise AssertionError("a failing run must raise ContainerError")
except docker.errors.ContainerError as e:
    check(e.exit_status, 4, "ContainerError exit status")

x = c.containers.run("busybox", "sleep 60", detach=True, name="pyx")
x.reload()
check(x.status, "running", "status")
check([k.name for k in c.containers.list()], ["pyx"], "list")
r = x.exec_run("echo x")
check((r.exit_code, r.output), (0, b"x\n"), "exec_run")
r = x.exec_run("sh -c 'echo o; echo e >&2; exit 3'", demux=True)
check((r.exit_code, r.output), (3, (b"o\n", b"e\n")), "exec_run demux")
r = x.exec_run("nosuch")
check(r.exit_code, 126, "exec_run of a missing command")
if b"executable file not found" not in r.output:
    raise AssertionError(r.output)
r = x.exec_run("id -un", user="nobody", workdir="/tmp", environment={"A": "1"})
check(r.output, b"nobody\n", "exec_run user")
x.stop(timeout=1)
check(x.wait()["StatusCode"], 137, "wait after stop of a process ignoring SIGTERM")
x.remove()
check(c.containers.list(all=True), [], "removed")

y = c.containers.create("busybox", "sh -c 'echo out; echo err >&2; exit 2'", name="pyy")
y.start()
check(y.wait()["StatusCode"], 2, "wait")
check(y.logs(stdout=True, stderr=False), b"out\n", "stdout logs")
check(y.logs(stdout=False, stderr=True), b"err\n", "stderr logs")
y.remove(v=True)
try:
    c.containers.get("pyy")
    raise AssertionError("removed container still found")
except docker.errors.NotFound:
    pass
print("ok")

"""What the benchmark scripts share: loopback ports, a throwaway mosquitto, stopping children."""
import os
import shutil
import socket
import subprocess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto(work, port):
    """A mosquitto on 127.0.0.1:port, anonymous, no persistence, its file in `work`."""
    with open(f"{work}/mosquitto.conf", "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 1000000\n" + ("user root\n" if os.geteuid() == 0 else ""))
    return subprocess.Popen(["mosquitto", "-c", f"{work}/mosquitto.conf"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(procs, work, timeout=20):
    """SIGTERM each child, newest first (SIGKILL past `timeout`), then remove `work`."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
    shutil.rmtree(work, ignore_errors=True)

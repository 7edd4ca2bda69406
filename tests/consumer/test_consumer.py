"""The library as another project sees it: installed (meson install into a temporary root), then a program
compiled and linked with `pkg-config --cflags --libs taskmaster` alone, and run.

Environment (tests/meson.build): TM_BUILD_ROOT, TM_CXX, TM_SANITIZE.
"""

import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from tmtest import check, main, test, tmpdir  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


@test
def a_program_builds_with_pkg_config_alone_and_runs():
    root = tmpdir()
    done = run(["meson", "install", "-C", os.environ["TM_BUILD_ROOT"], "--no-rebuild", "--quiet", "--destdir", root])
    check(done.returncode == 0, done.stdout + done.stderr)
    pcs = glob.glob(os.path.join(root, "**", "taskmaster.pc"), recursive=True)
    check(len(pcs) == 1, f"taskmaster.pc installed: {pcs}")
    installed = glob.glob(os.path.join(root, "**", "include", "taskmaster", "*.hpp"), recursive=True)
    check(not any(os.path.basename(h) == "private.hpp" for h in installed), installed)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), PKG_CONFIG_SYSROOT_DIR=root)
    flags = run(["pkg-config", "--cflags", "--libs", "taskmaster"], env=env)
    check(flags.returncode == 0, flags.stderr)
    sanitize = os.environ.get("TM_SANITIZE", "none")
    extra = [f"-fsanitize={sanitize}"] if sanitize != "none" else []
    exe = os.path.join(root, "consumer")
    built = run(os.environ["TM_CXX"].split() + ["-std=c++20", *extra, os.path.join(HERE, "consumer.cpp"),
                                                "-o", exe, *flags.stdout.split()])
    check(built.returncode == 0, f"{flags.stdout}\n{built.stderr}")
    libdir = os.path.dirname(os.path.dirname(pcs[0]))
    ran = run([exe], env=dict(os.environ, LD_LIBRARY_PATH=libdir))
    check(ran.returncode == 0 and ran.stdout == 'sleeper STOPPED "STOPPED"\n', f"{ran.returncode}: {ran.stdout!r} {ran.stderr}")


if __name__ == "__main__":
    main()

"""igrlib.coursework._environment: a snapshot of the files grading runs on sees what a submission changed."""

import importlib.util
import os
import pathlib
import py_compile
import sys

from igrlib.coursework import _environment


def _tree(tmp_path):
    lib = tmp_path / "lib"
    (lib / "pkg").mkdir(parents=True)
    (lib / "pkg" / "mod.py").write_text("x = 1\n")
    (lib / "test").mkdir()
    (lib / "test" / "t.py").write_text("")
    return lib


def test_an_unchanged_tree_has_no_changes(tmp_path):
    lib = _tree(tmp_path)
    assert _environment.changes(_environment.snapshot([lib]), _environment.snapshot([lib])) == []


def test_a_planted_pth_file_a_rewritten_module_and_a_removed_file_are_seen(tmp_path):
    lib = _tree(tmp_path)
    (lib / "pkg" / "old.py").write_text("")
    before = _environment.snapshot([lib])
    (lib / "evil.pth").write_text("import os\n")
    mod = lib / "pkg" / "mod.py"
    stat = mod.stat()
    mod.write_text("x = 2\n")  # same size: the modification time tells
    os.utime(mod, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    (lib / "pkg" / "old.py").unlink()
    assert _environment.changes(before, _environment.snapshot([lib])) == sorted(
        str(lib / p) for p in ("evil.pth", "pkg/mod.py", "pkg/old.py")
    )


def test_bytecode_counts_unless_it_is_what_its_source_compiles_to(tmp_path):
    """Python writes (and may drop) bytecode by itself: no change. A .pyc holding other code than
    its source's, which Python would load since its header matches the source, is a change."""
    lib = _tree(tmp_path)
    source = lib / "pkg" / "mod.py"
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    before = _environment.snapshot([lib])
    py_compile.compile(str(source), cfile=str(cached))  # as an import would
    honest = _environment.snapshot([lib])
    assert _environment.changes(before, honest) == []
    planted = tmp_path / "other.py"  # outside the environment
    planted.write_text("x = 666\n")
    py_compile.compile(str(planted), cfile=str(cached))
    header = bytearray(cached.read_bytes())
    stat = source.stat()  # the header Python checks: the source's time and size
    header[8:16] = int(stat.st_mtime).to_bytes(4, "little") + stat.st_size.to_bytes(4, "little")
    cached.write_bytes(bytes(header))
    assert _environment.changes(honest, _environment.snapshot([lib])) == [str(cached)]
    cached.unlink()
    assert _environment.changes(honest, _environment.snapshot([lib])) == []


def test_a_replaced_file_of_the_same_size_and_time_is_seen_by_its_inode(tmp_path):
    lib = _tree(tmp_path)
    mod = lib / "pkg" / "mod.py"
    before = _environment.snapshot([lib])
    stat = mod.stat()
    other = lib / "mod.new"
    other.write_text("x = 3\n")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, mod)
    assert _environment.changes(before, _environment.snapshot([lib])) == [str(mod)]


def test_the_standard_librarys_test_folder_is_left_out_at_the_top_only(tmp_path):
    lib = _tree(tmp_path)
    (lib / "pkg" / "test").mkdir()
    (lib / "pkg" / "test" / "inner.py").write_text("")
    files = _environment.snapshot([lib])
    assert str(lib / "test" / "t.py") not in files
    assert str(lib / "pkg" / "test" / "inner.py") in files


def test_the_roots_hold_igrlib_and_the_environments_site_packages():
    import sysconfig

    import igrlib

    found = _environment.roots()
    assert os.path.realpath(os.path.dirname(igrlib.__file__)) in found
    assert os.path.realpath(sysconfig.get_paths()["purelib"]) in found
    assert os.path.realpath(os.path.dirname(sys.executable)) in found
    files = _environment.snapshot()
    assert os.path.realpath(igrlib.__file__) in files
    assert len(files) > 1000

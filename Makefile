# Two commands on a fresh clone (see README.md):
#   make book   build the website into _build/html
#   make test   run every test: igrlib's unit tests and doctests, every notebook under nbval,
#               and, where Chromium is installed, the website in a real browser
# Both create the virtual environment .venv and install requirements.txt into it on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The website tests drive Debian's chromium through its chromedriver (apt-get install
# chromium chromium-driver); without them they are skipped, and say so.
CHROMIUM := $(shell command -v chromium 2>/dev/null)
CHAPTERS := $(sort $(wildcard book/[0-9]*.ipynb))

.PHONY: book test install clean student student-release notebooks coursework lab
.PHONY: lock test-latest pdf a11y test-portable

# ---- The environment: a lock (make install, make lock, make test-latest) ----
# requirements.in lists what the book needs, loosely; requirements.txt is its lock (exact
# versions with hashes, written by `make lock`), the one environment that made the stored
# notebook outputs. .venv, CI and Binder install the lock, then igrlib itself, editable.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Re-resolve requirements.in into requirements.txt. uv keeps every version already locked
# unless requirements.in excludes it; `make lock UPGRADE=1` takes the newest of everything
# (then re-run the notebooks, see README.md, "The environment").
LOCK_PYTHON := 3.11.7
lock: $(STAMP)
	$(BIN)/uv pip compile requirements.in --quiet --generate-hashes --python-version $(LOCK_PYTHON) \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -o requirements.txt

# What the next `make lock UPGRADE=1` would break: a fresh _build/venv-latest (inside _build,
# which the book's sources exclude) from requirements.in without the lock, so the newest
# release of everything; the versions that differ from the lock; the website built with it into
# _build/latest; lint and the test suite. Left out: the browser tests of the website (they check
# _build/html, made from the lock) and the lock's own test.
LATEST := _build/venv-latest
test-latest:
	rm -rf $(LATEST) _build/latest
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.in
	$(LATEST)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(LATEST)/bin/python -m pip freeze --all --exclude-editable > $(LATEST)/versions.txt
	@echo "Versions that differ from the lock (requirements.txt):"
	@$(LATEST)/bin/python tools/lock_diff.py requirements.txt $(LATEST)/versions.txt
	$(LATEST)/bin/jupyter-book build . -W -n --keep-going --path-output _build/latest
	$(LATEST)/bin/ruff check igrlib tests tools benchmarks site_assets book
	OPENBLAS_NUM_THREADS=1 $(LATEST)/bin/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env \
		--nbval-cell-timeout=300 -rs -p no:cacheprovider \
		--ignore=tests/test_website.py --ignore=tests/test_sliders_browser.py --ignore=tests/test_lock.py
# ---- end of the environment block ----

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The website is in _build/html. Open _build/html/index.html in a browser."

# With Chromium, first bring the website up to date (a few seconds when nothing changed):
# tests/test_website.py loads every page of it.
test: $(STAMP)
ifneq ($(CHROMIUM),)
	$(MAKE) --no-print-directory book
else
	@echo "Chromium not found: the website tests will be skipped (apt-get install chromium chromium-driver)."
endif
	$(BIN)/ruff check igrlib tests tools benchmarks site_assets book
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env \
		--nbval-cell-timeout=300 -rs

# The same unit tests and notebooks (not the browser tests) a second time on "another CPU":
# numpy without its AVX2/AVX-512 kernels and OpenBLAS with its Sandy Bridge kernels, so that
# results differ from a native run in their last bits, as they do between two machines. A test
# or a stored output that depends on those bits fails here (CONTRIBUTING.md, "Any CPU").
# tests/test_portable.py checks that the profile really is in force.
PORTABLE := NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Sandybridge IGR_PORTABLE=1
test-portable: $(STAMP)
	$(PORTABLE) OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env \
		--nbval-cell-timeout=300 -rs -q -p no:cacheprovider \
		--ignore=tests/test_website.py --ignore=tests/test_sliders_browser.py --ignore=tests/test_lab.py \
		--ignore=tests/test_accessibility.py --ignore=tests/test_pdf.py

# JupyterLab on the book, from the same environment (the sliders are live ipywidgets there).
# The student edition opens the same way: make student, then open _build/student/ in the file browser.
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root) book/01_steepest_descent.ipynb

# The student edition (see book/instructors.md): solutions removed, stubs kept, in _build/student.
student: $(STAMP)
	$(BIN)/python -m igrlib.coursework.student _build/student $(CHAPTERS)

# The student edition ready to publish (book/instructors.md, "How students open the notebooks"):
# _build/student-release/ and _build/student-release.zip hold the student notebooks, what Binder
# needs to run them and a README.md with a Binder and a Colab link per chapter, pointing at
# RELEASE_BRANCH of RELEASE_REPOSITORY (by default the repository of _config.yml), where the
# folder's content is to be pushed.
RELEASE_REPOSITORY ?= $(shell sed -n 's/^  url: *//p' _config.yml)
RELEASE_BRANCH ?= student
student-release: $(STAMP)
	$(BIN)/python -m igrlib.coursework.release _build/student-release $(CHAPTERS) \
		--repository $(RELEASE_REPOSITORY) --branch $(RELEASE_BRANCH)

# Run every chapter and save it with its outputs (after editing one: see CONTRIBUTING.md).
notebooks: $(STAMP)
	$(BIN)/python tools/execute.py $(CHAPTERS)

# Grade the whole book as coursework: the solution edition scores every exercise and the
# student edition none (runs every chapter twice), and the slowest hostile submissions, graded
# end to end by the grader's command line: the tests marked `coursework` (CI runs them).
coursework: $(STAMP)
	OPENBLAS_NUM_THREADS=1 IGR_COURSEWORK=1 $(BIN)/python -m pytest -n 2 -q -rs -m coursework tests

# Accessibility: axe-core on every page of the website, light and dark, failing on any WCAG 2.1
# A/AA violation (about half a minute a page on a loaded 2-core machine, so not in make test;
# CI runs it). Needs the built site (make book) and Chromium.
a11y: $(STAMP)
	IGR_A11Y=1 $(BIN)/python -m pytest -n 2 -q -rs tests/test_accessibility.py

# ---- The PDF (make pdf) ----
# The book as _build/pdf/book.pdf and, without solutions, _build/pdf/book-student.pdf:
# Jupyter Book's LaTeX route with XeLaTeX (Debian: texlive-xetex latexmk texlive-latex-extra
# texlive-fonts-recommended texlive-plain-generic fonts-freefont-otf; pdftotext from
# poppler-utils for tests/test_pdf.py). The student PDF is built the same way from a copy of the
# sources whose chapters are replaced by their student edition (make student).
PDF_STUDENT := _build/pdf-student
pdf: $(STAMP)
	rm -rf _build/pdf $(PDF_STUDENT)
	$(BIN)/jupyter-book build . --builder pdflatex -W -n --keep-going
	mkdir -p _build/pdf $(PDF_STUDENT)
	cp _build/latex/book.pdf _build/pdf/book.pdf
	cp -r _config.yml _toc.yml pyproject.toml book site_assets $(PDF_STUDENT)/
	rm $(PDF_STUDENT)/book/[0-9]*.ipynb
	$(BIN)/python -m igrlib.coursework.student --keep-myst $(PDF_STUDENT)/book $(CHAPTERS)
	sed -i 's/^title: \(.*\)$$/title: \1 (student edition)/' $(PDF_STUDENT)/_config.yml
	$(BIN)/jupyter-book build $(PDF_STUDENT) --builder pdflatex -W -n --keep-going
	cp $(PDF_STUDENT)/_build/latex/book.pdf _build/pdf/book-student.pdf
	@echo
	@echo "The PDFs are _build/pdf/book.pdf and _build/pdf/book-student.pdf (no solutions)."
	@if command -v pdfinfo >/dev/null; then for f in _build/pdf/*.pdf; do \
		echo "$$f: $$(pdfinfo $$f | sed -n 's/^Pages: *//p') pages"; done; fi
# ---- end of the PDF block ----

clean:
	rm -rf _build .pytest_cache

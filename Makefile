# Two commands on a fresh clone (see README.md):
#   make book   build the website into _build/html
#   make test   run every test: igrlib's unit tests and doctests, and every notebook under nbval
# Both create the virtual environment .venv and install requirements.txt into it on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test install clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The website is in _build/html. Open _build/html/index.html in a browser."

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env

clean:
	rm -rf _build .pytest_cache

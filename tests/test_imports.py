"""The prediction path must not load torch (a cold start costs 10x more with it)."""

import subprocess
import sys


def test_predict_report_and_models_do_not_import_torch(trained_model):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from textrnn.cli import app\n"
        f"r = CliRunner().invoke(app, ['predict', '--model', {str(trained_model)!r}, 'a fine film'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(app, ['report', '--model', {str(trained_model)!r}])\n"
        "assert r.exit_code == 0 and 'Calibration' in r.output, r.output\n"
        f"r = CliRunner().invoke(app, ['report', '--compare', {str(trained_model)!r}, {str(trained_model)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['models'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import textrnn.inference.predictor, textrnn.inference.predict, textrnn.views.report, textrnn.folder\n"
        "import textrnn.evaluation.analysis, textrnn.evaluation.inspection, textrnn.tasks, textrnn.entry\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_predictor_api_without_torch(trained_model):
    code = (
        "import sys, textrnn\n"
        f"p = textrnn.load_predictor({str(trained_model)!r}, device='cpu')\n"
        "print(p.predict(['a fine film'])[0].label in p.labels, p.provider, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "CPUExecutionProvider", "False"]


def test_the_server_does_not_import_torch(trained_model):
    code = (
        "import sys\n"
        "import textrnn.serving.app, textrnn.serving.server, textrnn.cli.serve\n"
        "from textrnn.serving.app import ServeSettings, create_app, load_predictors\n"
        f"settings = ServeSettings((('tiny', {str(trained_model)!r}),))\n"
        "create_app(settings, load_predictors(settings))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

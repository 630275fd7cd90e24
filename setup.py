"""Packaging for nanoclient: SDK, CLI and local server for image classification."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "nanoclient" / "_version.py").read_text()).group(1)

#: libjpeg-turbo's decoder: checks a JPEG ten times faster than Pillow (nanoclient.images)
FAST = ["simplejpeg>=1.6"]
SERVER = FAST + [
    "flask>=2.2",
    "waitress>=2.1",
    "numpy>=1.23",
    "scikit-learn>=1.2",
    "dlib-bin>=19.24",  # object detection's learner: HOG detectors trained on a CPU (a 4 MB wheel, no weights)
]
#: OCR models on the local server: PDF pages rendered by PDFium, scans and photos cleaned by OpenCV
#: (ocr_clean); the text engine is the system's Tesseract: scripts/system_deps.sh installs it on Debian
OCR = ["pypdfium2>=4", "opencv-python-headless>=4.8"]
TEST = SERVER + OCR + [
    "pytest>=7",
    "responses>=0.23",
    "threadpoolctl>=3",  # which BLAS NumPy uses (a scikit-learn dependency already)
    "schemathesis>=4",  # fuzzes the local server against its own OpenAPI document
    "selenium>=4.11",  # drives Chromium through the dashboard (with the system's chromedriver)
    # the habits checked by scripts/test.sh before the tests; pinned, so that a new release
    # cannot fail a clean checkout
    "ruff==0.17.6",
    "mypy==1.20.2",
    "types-requests",
    "types-tqdm",
]

setup(
    name="nanoclient",
    version=VERSION,
    description=("Train and use an image classifier from Python and the terminal: "
                 "Nanonets API client, CLI and local server"),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["nanoclient", "nanoclient.*"]),
    include_package_data=True,
    package_data={"nanoclient": ["py.typed"],
                  # the dashboard's page, served by `nanoclient serve` at /
                  "nanoclient.server.dashboard": ["*.html", "*.js", "*.css", "*.svg"],
                  # the field extractors OCR models may start from (create-model --pretrained NAME)
                  "nanoclient.server.ocr": ["extractors/*.npz"]},
    install_requires=[
        "requests>=2.28",
        "click>=8.1",
        "pillow>=9.1",
        "tqdm>=4.64",
        "platformdirs>=3",
    ],
    extras_require={"fast": FAST, "server": SERVER, "ocr": SERVER + OCR, "test": TEST},
    entry_points={
        "console_scripts": ["nanoclient = nanoclient.cli:main"],
        # the nanonets_fake fixture of nanoclient.testing, available in every pytest run
        "pytest11": ["nanoclient = nanoclient.testing"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)

"""The tests import the package from this checkout (python/src) and the test styles from here; the
judge is the installed one, $VAEBENCH_JUDGE, or the checkout's build/vaebench-judge."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

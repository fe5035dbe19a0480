"""The only place in the worker that touches private names of faust, mode and aiokafka.

``patches`` lists every fix installed into those libraries (what it replaces, the upstream
issue it answers, the test that proves it) and installs them; ``versions`` refuses versions
the fixes were not written for. The rest of ``streams/`` uses faust's public API only.
"""

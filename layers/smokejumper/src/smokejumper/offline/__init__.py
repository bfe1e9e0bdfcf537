"""`smokejumper local run`: the synthesized backup workflow executed on emulated AWS, on one machine.

- synth.py: the plan's stack, synthesized in-process exactly as `cdk synth` does (same app, context, checks);
- stack.py: its resources created on moto from the template;
- lambdas.py: each Lambda invocation calls the real handler of functions/ in-process;
- runner.py: the estate (real PostgreSQL, MySQL, a private etcd), the executions, progress and summary.
"""

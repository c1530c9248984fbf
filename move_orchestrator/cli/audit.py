from move_orchestrator.cli import bases


class Audit(bases.Lister):
    """Check inventory, hypervisor and claims agree; exit 1 on violations."""

    def take_action(self, args):
        client = self.app.client
        self._problems = client.audit(client.context)
        fields = (('Instance', 'instance'), ('Task', 'move'),
                  ('Problem', 'problem'))
        return tuple(c for c, _ in fields), [
            tuple(p[k] for _, k in fields) for p in self._problems]

    def run(self, parsed_args):
        super().run(parsed_args)
        if self._problems:
            self.app.stderr.write('%d violation(s) found\n'
                                  % len(self._problems))
            return 1
        self.app.stderr.write('audit: no violations\n')
        return 0

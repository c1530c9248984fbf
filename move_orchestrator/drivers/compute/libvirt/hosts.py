"""One libvirt connection per host, opened when first needed and opened
again when the daemon went away (restarted: libvirt keeps its QEMUs)."""

from concurrent import futures
import threading

from oslo_log import log as logging

from move_orchestrator.drivers.compute.libvirt import events
from move_orchestrator.drivers.compute.libvirt import states
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

INSTALL_HINT = ('pip install libvirt-python (needs libvirt-dev and '
                'pkg-config)')


def _quiet(_ctx, _err):
    """libvirt prints every error on stderr by default: they are raised."""


class Connections:

    def __init__(self, opts, own_host):
        if states.libvirt is None:
            raise exception.DriverError(operation='connect',
                                        reason='libvirt-python missing: %s'
                                        % INSTALL_HINT)
        states.libvirt.registerErrorHandler(_quiet, None)
        events.start_loop()
        self.lifecycle = events.Lifecycle()
        self.opts = opts
        self.own_host = own_host
        self._conns = {}
        self._opening = {}
        self._lock = threading.Lock()

    def knows(self, host):
        """Whether this process reaches host's daemon at all: an agent
        reaches its own host's alone."""
        return host in self.opts.host_uris or host == self.own_host

    def uri(self, host):
        if not self.knows(host):
            # Never connection_uri: that is this host's daemon, whose
            # domains would be taken for host's.
            raise exception.DriverError(
                operation='connect', reason='%s: this process reaches the '
                'daemons of %s alone ([libvirt] host_uris, connection_uri)'
                % (host, ', '.join(sorted(set(self.opts.host_uris)
                                          | {self.own_host}))))
        return self.opts.host_uris.get(host, self.opts.connection_uri)

    def inbound(self, host):
        """The URI the other hosts reach host's daemon by (accepting a
        live migration, exporting a disk)."""
        if host in self.opts.host_uris:
            return self.opts.host_uris[host]
        if host == self.own_host and self.opts.inbound_uri:
            return self.opts.inbound_uri
        return 'qemu+tcp://%s/system' % host

    def hosts(self):
        return sorted(self.opts.host_uris)

    def get(self, host):
        """host's connection, opened where there is none or it was lost.

        libvirt's open has no timeout and its keepalive starts once the
        connection is open: an open to a daemon that answers nothing (hung,
        its host cut off) would wait for ever. It runs in a thread of its
        own, one per host at a time, and a caller waits for it as long as
        keepalive gives an open connection (interval x (count + 1)); one
        that ends later is kept for the next caller."""
        uri = self.uri(host)
        with self._lock:
            conn = self._conns.get(host)
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except states.libvirt.libvirtError:
                    pass
                LOG.info('Connection to %s lost: reconnecting', host)
                del self._conns[host]
                self.close_one(conn)
            opening = self._opening.get(host)
            if opening is None:
                opening = self._opening[host] = futures.Future()
                threading.Thread(target=self._open, args=(host, uri, opening),
                                 name='libvirt-open-%s' % host,
                                 daemon=True).start()
        wait = self.opts.keepalive_interval * (self.opts.keepalive_count + 1)
        try:
            return opening.result(wait)
        except futures.TimeoutError:
            raise exception.DriverError(
                operation='connect', reason='%s (%s): its daemon did not '
                'answer in %ss (hung, or the host is cut off)'
                % (host, uri, wait)) from None

    def _open(self, host, uri, opening):
        try:
            conn = states.libvirt.open(uri)
        except states.libvirt.libvirtError as e:
            with self._lock:
                self._opening.pop(host, None)
            opening.set_exception(exception.DriverError(
                operation='connect', reason='%s (%s): %s' % (host, uri, e)))
            return
        self._keep_alive(conn, host)
        self.lifecycle.watch(conn, host)
        with self._lock:
            current = self._opening.get(host) is opening
            if current:
                del self._opening[host]
                self._conns[host] = conn
        if not current:     # close() ran meanwhile
            self.close_one(conn)
            opening.set_exception(exception.DriverError(
                operation='connect', reason='%s: the driver was closed' % host))
            return
        opening.set_result(conn)

    def _keep_alive(self, conn, host):
        try:
            conn.setKeepAlive(self.opts.keepalive_interval,
                              self.opts.keepalive_count)
        except states.libvirt.libvirtError as e:
            LOG.warning('No keepalive with %s (%s): a call its daemon never '
                        'answers waits for ever', host, e)

    def reachable(self, host):
        try:
            self.get(host)
            return True
        except exception.DriverError:
            return False

    @staticmethod
    def close_one(conn):
        try:
            conn.close()
        except states.libvirt.libvirtError:
            pass

    def close(self):
        with self._lock:
            for conn in self._conns.values():
                self.close_one(conn)
            self._conns.clear()
            # An open under way closes what it opens (_open).
            self._opening.clear()

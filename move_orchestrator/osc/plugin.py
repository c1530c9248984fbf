"""The plugin module python-openstackclient loads (entry point
``openstack.cli.extension``: move); its commands are in the
``openstack.move.v1`` entry point group."""

import os

from osc_lib import utils

API_NAME = 'move'
API_VERSION_OPTION = 'os_move_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = {'1': 'move_orchestrator.osc.client.Client'}
SERVICE_TYPE = 'move'


def make_client(instance):
    """The REST client, on the session openstackclient built (a Keystone
    token, or no auth with ``--os-auth-type none --os-endpoint URL``)."""
    cls = utils.get_client_class(API_NAME, instance._api_version[API_NAME],
                                 API_VERSIONS)
    endpoint = instance.get_endpoint_for_service_type(
        SERVICE_TYPE, region_name=instance.region_name,
        interface=instance.interface)
    headers = {}
    if instance.auth_plugin_name == 'none':
        # The API's noauth mode reads the caller from these headers (a
        # Keystone-protected API drops them): an operator, as our CLI.
        headers = {
            'X-User-Id': os.environ.get('OS_USERNAME') or 'admin',
            'X-Project-Id': os.environ.get('OS_PROJECT_ID') or 'admin',
            'X-Roles': os.environ.get('OS_MOVE_ROLES') or 'admin'}
    return cls(instance.session, endpoint, headers=headers)


def build_option_parser(parser):
    parser.add_argument(
        '--os-move-api-version', metavar='<move-api-version>',
        default=utils.env('OS_MOVE_API_VERSION'),
        help='Move API major version (default: 1; env '
             'OS_MOVE_API_VERSION)')
    return parser

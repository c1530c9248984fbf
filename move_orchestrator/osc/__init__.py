"""``openstack move ...``: the python-openstackclient plugin."""

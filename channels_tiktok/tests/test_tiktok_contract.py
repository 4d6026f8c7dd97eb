"""The plugin test kit's contract tests, run against channels_tiktok."""

import channels_tiktok
from plugins.testing import ChannelContractTests


class TestTikTokContract(ChannelContractTests):
    plugin = channels_tiktok

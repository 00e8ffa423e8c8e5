"""The chain's fixed names: system-contract addresses and Governance role ids, shared by the SDK and the node.

The node installs the system contracts at these addresses at genesis (node/genesis.py imports them from
here); every SDK facade and the offline verifier address them by the same constants.
"""

from __future__ import annotations

from typing import Final

# --- fixed addresses of system contracts (code installed by the node, never by a CREATE) -------------
GOVERNANCE_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001000")
LICENCE_REGISTRY_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001001")
DATA_AUTHORISATION_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001002")
DRUG_TRACE_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001003")
BANK_CONFIRMATION_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001004")
CALENDAR_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001005")
DRUG_LOTS_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000001006")
SYSTEM_CONTRACT_ADDRESSES: Final[dict[str, bytes]] = {
    "Governance": GOVERNANCE_ADDRESS,
    "LicenceRegistry": LICENCE_REGISTRY_ADDRESS,
    "DataAuthorisation": DATA_AUTHORISATION_ADDRESS,
    "DrugTrace": DRUG_TRACE_ADDRESS,
    "BankConfirmation": BANK_CONFIRMATION_ADDRESS,
    "Calendar": CALENDAR_ADDRESS,
    "DrugLots": DRUG_LOTS_ADDRESS,
}

# --- a node's default request limits (node/api/limits.py takes its defaults from here) -----------------
#: What one ``POST /v1/transactions/batch`` may carry at a node's defaults (its ``max_submit_batch`` and
#: ``max_body_bytes``): the SDK's ``Client.submit_all`` splits larger submissions into several requests.
SUBMIT_BATCH_MAX_TXS: Final = 500
SUBMIT_BATCH_MAX_BODY_BYTES: Final = 1024 * 1024

#: The sender of the ledger's own calls (keccak256("xinlian ledger system sender")[-20:], as Governance.vy's
#: SYSTEM_SENDER): no key controls it; only it may record a contract upgrade's outcome.
SYSTEM_SENDER: Final = bytes.fromhex("6da273e25acf8959e26c1b2023c7d383d4f05653")
#: EIP-170's limit on runtime code: the largest code a contract upgrade installs (Governance.MAX_CODE_BYTES).
MAX_CODE_BYTES: Final = 24_576
#: Calldata of an upgrade's migration call at most (Governance.MAX_MIGRATION_BYTES).
MAX_MIGRATION_BYTES: Final = 1024
#: An upgrade activates more than this many blocks after its approval (Governance.UPGRADE_NOTICE_BLOCKS).
UPGRADE_NOTICE_BLOCKS: Final = 5
#: The largest DER certificate Governance records, a trust anchor or an account's (MAX_CERTIFICATE_BYTES).
MAX_CHAIN_CERTIFICATE_BYTES: Final = 2048
#: How many trust anchors (CA certificates) Governance holds at once (Governance.MAX_TRUST_ANCHORS).
MAX_TRUST_ANCHORS: Final = 16

# --- Governance role ids: keccak256(<NAME>) as in contracts/Governance.vy (checked by a unit test) -----
LICENCE_AUTHORITY: Final = bytes.fromhex("82e6bfd34850cddc56b029d5473929e1af198255964728032f2036ba2252748e")
ISSUER: Final = bytes.fromhex("76afa8a5929fef1b4c03674b2152ae5aaad1d974b8a4021c59477bcc846ccc1e")
AUDIT_ACCREDITOR: Final = bytes.fromhex("6c0e72038891f7425e8fae88155c3b88212843e815d7c76c7de51509b7b44a88")
AUDITOR: Final = bytes.fromhex("d8994f6d76f930dc5ea8c60e38e6334a87bb8539cc3082ac6828681c33316e3d")
BANK: Final = bytes.fromhex("7969942589b385a4e9a8aef4722c212233a04538ccac2ef459b60fa28ef0690b")
DRUG_REGULATOR: Final = bytes.fromhex("1815d7400d14645e6a339eef8cc76f4cc2c37cc2b1ed84473405537ae58414d6")
MAH: Final = bytes.fromhex("c964667543ba84cd4f6f1c0ecf31ed990761e6fff14a2b2d6d0179513068b6e7")
DISTRIBUTOR: Final = bytes.fromhex("85faced7bde13e1a7dad704b895f006e704f207617d68166b31ba2d79624862d")
DISPENSER: Final = bytes.fromhex("6819d2896fa4833eb5158abc566f5567fa977a468f59c2b18ae25bfe434af5c3")
DATA_REGULATOR: Final = bytes.fromhex("16c17720a650ffd4013912de64de21153d8ec388a4eebdbc64f3607557c08169")
DATA_HOLDER: Final = bytes.fromhex("4a8b2c6dcb691dc71c5831cc6b6b9c2c886851cc1fc165b72e1836a4657eaa4c")
DATA_USER: Final = bytes.fromhex("814715ff91041e7d58f5f456f186884014bfb2ab8ce035c9a014cb8bef6ae1e8")
CALENDAR_KEEPER: Final = bytes.fromhex("67cd957ba5508b1f5f74794eec349eeba6b44df4f66a9b99ceb8dee0ce05bbea")
ROLE_IDS: Final[dict[str, bytes]] = {
    "LICENCE_AUTHORITY": LICENCE_AUTHORITY,
    "ISSUER": ISSUER,
    "AUDIT_ACCREDITOR": AUDIT_ACCREDITOR,
    "AUDITOR": AUDITOR,
    "BANK": BANK,
    "DRUG_REGULATOR": DRUG_REGULATOR,
    "MAH": MAH,
    "DISTRIBUTOR": DISTRIBUTOR,
    "DISPENSER": DISPENSER,
    "DATA_REGULATOR": DATA_REGULATOR,
    "DATA_HOLDER": DATA_HOLDER,
    "DATA_USER": DATA_USER,
    "CALENDAR_KEEPER": CALENDAR_KEEPER,
}
GLOBAL_SCOPE: Final = bytes(32)

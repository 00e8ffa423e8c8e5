"""Identifier validators: USCC, resident ID, e-licence ID, GTIN/GS1 and drug trace codes."""

from sdk.errors import IdentifierError
from sdk.identifiers.checksums import (
    USCC_CHARSET,
    compute_mod11_2_check,
    compute_mod37_36_check,
    compute_org_code_check,
    compute_uscc_check,
)
from sdk.identifiers.drug import (
    DrugCode,
    DrugTraceCode,
    is_valid_drug_trace_code,
    parse_drug_code,
    parse_drug_trace_code,
    validate_drug_trace_code,
)
from sdk.identifiers.gs1 import (
    GS1_X_CHARSET,
    Gs1ElementString,
    Gtin,
    compute_gtin_check,
    is_valid_gs1_element_string,
    is_valid_gtin,
    parse_gs1_element_string,
    parse_gtin,
    validate_gs1_element_string,
    validate_gtin,
)
from sdk.identifiers.licence import (
    LICENCE_ID_ROOT,
    LicenceId,
    compute_licence_check,
    is_valid_licence_id,
    make_licence_id,
    parse_licence_id,
    validate_licence_id,
)
from sdk.identifiers.resident_id import (
    ResidentId,
    compute_resident_id_check,
    is_valid_resident_id,
    parse_resident_id,
    validate_resident_id,
)
from sdk.identifiers.uscc import USCC_CHECK_EXCEPTIONS, Uscc, is_valid_uscc, parse_uscc, validate_uscc

__all__ = [
    "GS1_X_CHARSET",
    "LICENCE_ID_ROOT",
    "USCC_CHARSET",
    "USCC_CHECK_EXCEPTIONS",
    "DrugCode",
    "DrugTraceCode",
    "Gs1ElementString",
    "Gtin",
    "IdentifierError",
    "LicenceId",
    "ResidentId",
    "Uscc",
    "compute_gtin_check",
    "compute_licence_check",
    "compute_mod11_2_check",
    "compute_mod37_36_check",
    "compute_org_code_check",
    "compute_resident_id_check",
    "compute_uscc_check",
    "is_valid_drug_trace_code",
    "is_valid_gs1_element_string",
    "is_valid_gtin",
    "is_valid_licence_id",
    "is_valid_resident_id",
    "is_valid_uscc",
    "make_licence_id",
    "parse_drug_code",
    "parse_drug_trace_code",
    "parse_gs1_element_string",
    "parse_gtin",
    "parse_licence_id",
    "parse_resident_id",
    "parse_uscc",
    "validate_drug_trace_code",
    "validate_gs1_element_string",
    "validate_gtin",
    "validate_licence_id",
    "validate_resident_id",
    "validate_uscc",
]

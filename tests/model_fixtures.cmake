# test_model_fixtures reads the committed model files of tests/fixtures/.
if(TARGET test_model_fixtures)
  target_compile_definitions(test_model_fixtures
    PRIVATE BN_FIXTURE_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
endif()

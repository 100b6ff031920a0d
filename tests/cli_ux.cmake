# The `bn` program's display, signals, plots and determinism (tests/cli/).
# Unit test of the progress line's layout, compiled with the program's own
# progress.c.
add_executable(test_cli_progress_format ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_progress_format.c
                                        ${PROJECT_SOURCE_DIR}/src/cli/progress.c)
target_include_directories(test_cli_progress_format PRIVATE ${PROJECT_SOURCE_DIR}/src/cli)
target_link_libraries(test_cli_progress_format PRIVATE bn PkgConfig::CMOCKA bn_warnings m)
add_test(NAME cli_progress_format COMMAND test_cli_progress_format)
set_tests_properties(cli_progress_format PROPERTIES LABELS cli)

# plot.c as it is built when cairo is missing at configure time.
add_executable(test_cli_plot_without_cairo ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_plot_without_cairo.c
                                           ${PROJECT_SOURCE_DIR}/src/cli/plot.c
                                           ${PROJECT_SOURCE_DIR}/src/cli/args.c)
target_include_directories(test_cli_plot_without_cairo PRIVATE ${PROJECT_SOURCE_DIR}/src/cli)
target_link_libraries(test_cli_plot_without_cairo PRIVATE bn PkgConfig::CMOCKA bn_warnings m)
add_test(NAME cli_plot_without_cairo COMMAND test_cli_plot_without_cairo
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cli_plot_without_cairo PROPERTIES LABELS cli)

# End to end: pseudo-terminals of 40/80/120 columns, signals, checkpoints,
# --validation-split, plots (PNG header checked), determinism.
add_test(NAME cli_ux
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_ux_test.sh $<TARGET_FILE:bn_cli>
          $<TARGET_FILE:cli_make_idx> ${CMAKE_CURRENT_BINARY_DIR}/cli_ux
          $<IF:$<BOOL:${CAIRO_FOUND}>,1,0>)
set_tests_properties(cli_ux PROPERTIES LABELS cli TIMEOUT 300)

# The man page (written from bn --help at build time), the bash completion
# and docs/cli.md, against the program.
add_test(NAME cli_man_completion
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/man_completion_test.sh $<TARGET_FILE:bn_cli>
          ${PROJECT_BINARY_DIR}/docs/man/bn.1 ${PROJECT_SOURCE_DIR}/src/cli/bn-completion.bash
          ${PROJECT_SOURCE_DIR}/docs/cli.md)
set_tests_properties(cli_man_completion PROPERTIES LABELS cli)
set_tests_properties(cli_ux PROPERTIES
  ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/cli/lsan.supp")
